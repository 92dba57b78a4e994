"""`derain models`: what can be passed to `--model`, and whether it can run here.

Peer weights are not shipped: a peer runs only once its file is in the peers folder
(`paths.peers_root`, set by DERAIN_PEERS), so the listing says, per model, which ones do and where
the others' files go. A command given a peer whose file is missing refuses it before any work,
with the line `weights.resolve` gives.
"""

from __future__ import annotations

import json

import click

from derain.paths import DEFAULT_MODEL, peers_root

READY = "runs here"
# Which rain each model suits, from the scores of docs/RESULTS.md (shown under its line); a peer's by
# the set its weights were trained on, the part of its name after the family
SUITS = {
    "derain_streaks_vapour": "real and rendered rain streaks, light to heavy (dense storms in part); keeps haze and "
                             "brightness unless --vapour asks for the veil to go",
    "derain_streaks": "the default's streak removal without its vapour branch",
    "derain_supervised": "rendered rain whose truth has no veil: it also removes veil, and darkens real rainy photos",
    "derain_student": "as derain_supervised (the task-transfer arm of the study)",
    "rain100l": "light rendered streaks (Rain100L)", "rain100h": "heavy rendered streaks with veil (Rain100H)",
    "rain1400": "rendered streaks of many angles and densities (Rain1400)",
    "real": "its authors' model for real rain", "generalization": "its authors' model for real rain",
}


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the metadata of every shipped model as JSON.")
def models(as_json: bool) -> None:
    """List shipped models, official peer weights (and whether each can run here) and registered architectures."""
    from derain.archs import arch_info, create_model, list_models  # torch: loaded by the listing, not by --help
    from derain.archs.complexity import count_params
    from derain.weights import PEERS, model_info, shipped_models

    infos = {name: model_info(name) for name in shipped_models()}
    if as_json:
        click.echo(json.dumps(infos, indent=2))
        return
    click.echo(f"Shipped models (the default, used without -m: {DEFAULT_MODEL}):")
    for name, info in infos.items():
        vapour = (f" --vapour 0-1, default {info.get('vapour', 0.0):g}" if arch_info(info["arch"]).vapour
                  else " streaks only (--vapour 0)")
        click.echo(f"  {name:22s} {info['arch']:17s} {READY:10s}{vapour}")
        _about(name, info.get("description", ""))
    root = peers_root()
    click.echo(f"Peer weights (not shipped; their files go in {root}, set by DERAIN_PEERS):")
    for name, (rel, arch, _) in PEERS.items():
        state = f"{READY:10s} {root / rel}" if (root / rel).is_file() else f"{'missing':10s} put {rel} in {root}"
        click.echo(f"  {name:22s} {arch:17s} {state}")
        _about(name.split("_", 1)[1])
    click.echo("Architectures:")
    for arch in list_models():
        params, info = count_params(create_model(arch)), arch_info(arch)
        can = f"{info.task}{', removes vapour' if info.vapour else ''}{', features' if info.features else ''}"
        click.echo(f"  {arch:22s} {params / 1e6:.3f} M parameters  ({can})")


def _about(key: str, description: str = "") -> None:
    """The lines under a model's: which rain it suits (`SUITS[key]`), then how it was made."""
    if key in SUITS:
        click.echo(f"      suits: {SUITS[key]}")
    if description:
        click.echo(f"      {description}")
