"""`derain models`: what can be passed to `--model`."""

from __future__ import annotations

import json

import click

from derain.paths import DEFAULT_MODEL


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the metadata of every shipped model as JSON.")
def models(as_json: bool) -> None:
    """List shipped models, official peer weights and registered architectures."""
    from derain.archs import create_model, list_models  # torch: loaded by the listing, not by --help
    from derain.archs.complexity import count_params
    from derain.weights import PEERS, model_info, shipped_models

    infos = {name: model_info(name) for name in shipped_models()}
    if as_json:
        click.echo(json.dumps(infos, indent=2))
        return
    click.echo(f"Shipped models (the default, used without -m: {DEFAULT_MODEL}):")
    for name, info in infos.items():
        click.echo(f"  {name:20s} {info['arch']:14s} {info.get('description', '')}")
    click.echo("Peer weights (from DERAIN_PEERS, not shipped):")
    for name, (rel, arch, _) in PEERS.items():
        click.echo(f"  {name:20s} {arch:14s} {rel}")
    click.echo("Architectures:")
    for arch in list_models():
        params = count_params(create_model(arch))
        click.echo(f"  {arch:20s} {params / 1e6:.3f} M parameters")
