"""`derain export onnx`: a model as an ONNX file for onnxruntime and other runtimes."""

from __future__ import annotations

from pathlib import Path

import click

from derain.atomic import exists_error
from derain.errors import DerainError


@click.group()
def export() -> None:
    """Export a model to another format."""


@export.command("onnx")
@click.option("-m", "--model", "model_name", default="derain_student", show_default=True,
              help="Shipped model name, peer name (e.g. prenet_rain100l) or path to a .safetensors file.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path), help="The .onnx file to write.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output file.")
def onnx_cmd(model_name: str, output: Path, overwrite: bool) -> None:
    """Write the model with dynamic batch, height and width (multiples of its grid) and its metadata."""
    from derain.onnx_backend import OPSET, export_onnx
    from derain.weights import load_model

    if output.exists() and not overwrite:
        raise exists_error(output)
    if not output.parent.is_dir():
        raise DerainError(f"{output.parent}: no such directory")
    model, meta = load_model(model_name)
    export_onnx(output, model, meta, overwrite=overwrite)
    click.echo(f"{model_name} -> {output} (opset {OPSET}, {output.stat().st_size / 1e6:.2f} MB)", err=True)
