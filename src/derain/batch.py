"""Batch deraining on Ray Data: the work of `derain remove`, spread over a pool of model actors.

The pipeline has two stages. Read tasks fetch each file's bytes through pyarrow (local paths and
any URI pyarrow understands: file://, s3://, gs://, hdfs://...), so storage latency overlaps with
compute. Model actors (`map_batches` with `DerainActor`, one image per batch) hold a `Derainer`
built once, decode with `derain.io`, derain and write with `write_picture`, exactly as the local
engine does, and return one status row per image. Every per-image failure comes back as a row,
never as an exception, so one bad file never stops the others.

Resources are sized so reads are never starved (on 2 CPUs, 2 actors x 1 CPU left no CPU for the
read task and the job hung): read tasks ask for `READ_CPUS`, and the actors share what is left
after one read slot per node. An actor that dies is restarted and its image retried
`MAX_TASK_RETRIES` times; an image that keeps killing actors is reported as failed and the rest
goes on. Outputs that exist are skipped (unless `overwrite`), so a killed job resumes where it
stopped: writes are atomic, so an existing output is always a finished one.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import socket
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pyarrow
import pyarrow.fs as pafs
import ray
import ray.data
import torch
from ray.util.annotations import RayDeprecationWarning

from derain.commands.remove import expand_inputs, plan_outputs
from derain.errors import DerainError
from derain.inference import Derainer
from derain.io import IMAGE_EXTENSIONS, Encoding, is_image_name, read_picture, write_picture

READ_CPUS = 0.25  # a read task only moves bytes: a quarter CPU lets it run beside busy actors
MAX_TASK_RETRIES = 2  # an image whose actor dies is tried 3 times in all, then reported as failed
MAX_RESTARTS = -1  # a dead actor is always replaced: a pool that shrank would never grow back
# One image in flight per actor (Ray Data queues several by default): an actor that dies takes
# only its own image down, not queued ones, whose retries a poison image would otherwise use up.
LIST_SUFFIX = ".txt"  # an input with this extension is a list of inputs, one per line


def is_uri(text: str) -> bool:
    """Whether `text` names a file through a filesystem scheme (file://, s3://...) rather than a path."""
    return "://" in text


def _expand_uri(uri: str) -> tuple[list[str], list[str]]:
    """Image files named by a URI (a file, or the images directly inside a folder), and errors.

    file:// URIs come back as local paths, so they take the local engine's path through everything.
    """
    try:
        fs, path = pafs.FileSystem.from_uri(uri)
        info = fs.get_file_info(path)
        entries = fs.get_file_info(pafs.FileSelector(path)) if info.type == pafs.FileType.Directory else []
    except (pyarrow.ArrowException, OSError) as exc:
        return [], [f"{uri}: cannot open ({exc})"]
    local = isinstance(fs, pafs.LocalFileSystem)
    if info.type == pafs.FileType.NotFound:
        return [], [f"{uri}: no such file or directory"]
    if info.type == pafs.FileType.Directory:
        names = sorted(e.base_name for e in entries
                       if e.is_file and is_image_name(PurePosixPath(e.base_name)) and not e.base_name.startswith("."))
        if not names:
            return [], [f"{uri}: directory contains no images ({', '.join(IMAGE_EXTENSIONS)})"]
        base = path if local else uri.rstrip("/")
        return [f"{base}/{name}" for name in names], []
    if not is_image_name(PurePosixPath(path)):
        return [], [f"{uri}: not a supported image file ({', '.join(IMAGE_EXTENSIONS)}); skipped"]
    return [path if local else uri], []


def _read_list(list_file: Path) -> list[str]:
    """Entries of a list file: one path or URI per line; blank lines and # comments ignored.
    Relative paths are taken from the list file's folder, so a list travels with its images."""
    try:
        lines = list_file.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DerainError(f"{list_file}: cannot read the list ({exc})") from exc
    entries = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    return [e if is_uri(e) or Path(e).is_absolute() else str(list_file.parent / e) for e in entries]


def expand_sources(inputs: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """Resolve files, folders, globs, `.txt` list files and URIs to image sources, plus error lines.

    Local sources come back as absolute paths (Ray workers do not share the driver's working
    folder), remote ones as URIs; duplicates are dropped, order is kept.
    """
    items: list[str] = []
    for item in inputs:
        is_list = not is_uri(item) and item.lower().endswith(LIST_SUFFIX) and Path(item).is_file()
        items += _read_list(Path(item)) if is_list else [item]
    sources: list[str] = []
    errors: list[str] = []
    local: list[str] = []
    for item in items:
        if is_uri(item):
            found, errs = _expand_uri(item)
            errors += errs
            sources += [f for f in found if is_uri(f)]
            local += [f for f in found if not is_uri(f)]
        else:
            local.append(item)
    files, errs = expand_inputs(tuple(local))
    return [str(f.absolute()) for f in files] + list(dict.fromkeys(sources)), errors + errs


@dataclass
class Job:
    """What to do: sources with their output paths, and what was skipped because it exists."""

    sources: list[str]
    outputs: list[Path]
    skipped: list[Path] = field(default_factory=list)


def plan(sources: list[str], out_dir: Path, overwrite: bool) -> Job:
    """Output per source, named as `derain remove -o` names it; existing outputs are skipped
    (the resume rule) unless `overwrite`. A URI only lends its file name (`Path(uri).name`)."""
    outputs = plan_outputs([Path(s) for s in sources], out_dir.absolute(), suffix="")
    todo = [(s, o) for s, o in zip(sources, outputs) if overwrite or not o.exists()]
    return Job([s for s, _ in todo], [o for _, o in todo], [o for o in outputs if o.exists() and not overwrite])


def fetch(row: dict[str, Any]) -> dict[str, Any]:
    """Read task: the source's bytes, or an error line (the decoding is the actor's)."""
    src = row["source"]
    try:
        fs, path = pafs.FileSystem.from_uri(src) if is_uri(src) else (pafs.LocalFileSystem(), src)
        with fs.open_input_file(path) as fh:
            return {**row, "data": fh.read(), "error": ""}
    except FileNotFoundError:
        error = f"{src}: no such file"
    except IsADirectoryError:
        error = f"{src}: is a directory, not an image"
    except (pyarrow.ArrowException, OSError) as exc:
        error = f"{src}: cannot read ({exc})"
    return {**row, "data": b"", "error": error}


class DerainActor:
    """A model held by one Ray actor: decodes, derains and writes one image per call."""

    def __init__(self, derainer: Derainer, threads: int, overwrite: bool, encoding: Encoding = Encoding()) -> None:
        torch.set_num_threads(threads)
        self.derainer, self.overwrite, self.encoding = derainer, overwrite, encoding

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        errors = [error or self.derain(src, Path(dst), data)
                  for src, dst, data, error in zip(batch["source"], batch["output"], batch["data"], batch["error"])]
        return {"source": batch["source"], "error": np.array(errors, dtype=object)}

    def derain(self, src: str, dst: Path, data: bytes) -> str:
        """Derain one image; '' on success, else the error line naming the source."""
        with tempfile.TemporaryDirectory(prefix="derain-batch-") as scratch:
            tmp = Path(scratch) / dst.name  # decoded from a file named like the source, as the local engine does
            try:
                tmp.write_bytes(data)
                pic = read_picture(tmp)
                pic.rgb = self.derainer.remove(pic.rgb)
                write_picture(dst, pic, overwrite=self.overwrite, encoding=self.encoding)
                return ""
            except DerainError as exc:
                message = str(exc).replace(str(tmp), src)
                return message if message.startswith((src, str(dst))) else f"{src}: {message}"
            except Exception as exc:  # noqa: BLE001 - one image (e.g. out of memory) must not stop the batch
                return f"{src}: {type(exc).__name__}: {exc}"


@dataclass(frozen=True)
class Sizing:
    """How many model actors, and the CPUs (Ray's accounting) and torch threads of each."""

    actors: int
    cpus: float
    threads: int


def size_actors(node_cpus: list[float], actors: int | None) -> Sizing:
    """Share the cluster's CPUs between `actors` model actors (default: one per CPU, single-threaded,
    the fastest measured, see docs/DECISIONS.md) after keeping one read slot (`READ_CPUS`) free on
    every node, so the read tasks always have room; an actor never asks for more than a node has."""
    if actors is not None and actors < 1:
        raise DerainError(f"--actors must be at least 1, got {actors}")
    total = sum(node_cpus)
    if total <= len(node_cpus) * READ_CPUS:
        raise DerainError("the Ray cluster has no CPUs to run model actors on")
    count = actors or max(1, int(total))
    share = min((total - len(node_cpus) * READ_CPUS) / count, max(node_cpus) - READ_CPUS)
    cpus = math.floor(share * 100) / 100  # Ray rounds resources to 1e-4; stay safely under the share
    return Sizing(count, cpus, max(1, math.ceil(cpus)))


def _check_reachable(address: str) -> None:
    """Fail fast on a HOST:PORT nobody listens on (ray.init would keep retrying for minutes);
    `auto` fails at once by itself and ray:// gives up after 30 s."""
    if address == "auto" or is_uri(address):
        return
    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=10).close()
    except (OSError, ValueError) as exc:
        raise DerainError(f"cannot reach the Ray cluster at {address} ({exc})") from exc


def connect(address: str | None) -> None:
    """Join the cluster at `address` (auto, ray://host:port, host:port), or start a local Ray
    instance sized to this machine when there is none."""
    # Ray's C++ core logs to the driver's stderr (e.g. a note on every restartable actor); errors
    # that matter reach us as exceptions or result rows, so only fatal ones may print. Setting the
    # level is itself logged once, while ray.init starts the core: that moment's stderr is dropped.
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
    options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": "ERROR"}
    # Ray's core takes over SIGTERM (a C++ stack dump, exit 15, the job's temporary files left):
    # ours are put back, so a stopped run ends as the CLI promises and its `finally` blocks clean up
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        if address is None:
            ray.init(num_cpus=len(os.sched_getaffinity(0)), **options)
        else:
            _check_reachable(address)
            ray.init(address=address, **options)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        where = f"join the Ray cluster at {address}" if address else "start a local Ray instance"
        raise DerainError(f"cannot {where}: {str(exc).splitlines()[0]}") from exc
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        for sig, handler in handlers.items():
            if handler is not None:  # None: not set from Python, nothing to put back
                signal.signal(sig, handler)


def _quiet_ray_data() -> None:
    """Ray Data reports to our progress bar and summary, not to the terminal: no bars of its own
    (they would fight with ours) or log tracebacks (a lost image is one line of ours); its logs stay
    in the Ray session folder."""
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.max_errored_blocks = -1  # a block whose retries ran out is dropped; `run` reports its image
    logging.getLogger("ray.data").setLevel(logging.CRITICAL)


def run(job: Job, derainer: Derainer, sizing: Sizing, overwrite: bool,
        encoding: Encoding = Encoding()) -> Iterator[tuple[str, str]]:
    """Derain the job on the connected Ray cluster; yields (source, error or '') per image as they
    finish, then each image whose worker kept dying with its error line."""
    _quiet_ray_data()
    rows = [{"source": s, "output": str(o)} for s, o in zip(job.sources, job.outputs)]
    pool = ray.data.ActorPoolStrategy(size=sizing.actors, max_tasks_in_flight_per_actor=1)
    with warnings.catch_warnings():  # Ray 2.60 (pinned) takes restart settings only as ray_remote_args
        warnings.simplefilter("ignore", RayDeprecationWarning)
        ds = (ray.data.from_items(rows, override_num_blocks=max(1, len(rows)))
              .map(fetch, num_cpus=READ_CPUS)
              .map_batches(DerainActor, batch_size=1, batch_format="numpy", compute=pool,
                           num_cpus=sizing.cpus, max_restarts=MAX_RESTARTS, max_task_retries=MAX_TASK_RETRIES,
                           fn_constructor_kwargs={"derainer": derainer, "threads": sizing.threads,
                                                  "overwrite": overwrite, "encoding": encoding}))
    pending = set(job.sources)
    for row in ds.iter_rows():
        pending.discard(row["source"])
        yield row["source"], row["error"]
    for src in sorted(pending):
        yield src, f"{src}: not processed: its worker died {MAX_TASK_RETRIES + 1} times"


def run_anywhere(job: Job, derainer: Derainer, sizing: Sizing, overwrite: bool,
                 encoding: Encoding = Encoding()) -> Iterator[tuple[str, str]]:
    """`run`, also through Ray Client (ray://), which cannot drive a dataset from outside the
    cluster: there a task inside the cluster drives it and the results come back at the end."""
    if not ray.util.client.ray.is_connected():
        yield from run(job, derainer, sizing, overwrite, encoding)
        return
    drive = ray.remote(num_cpus=0)(lambda: list(run(job, derainer, sizing, overwrite, encoding)))
    yield from ray.get(drive.remote())
