"""The queue behind the web page: uploads wait their turn and one worker derains them in order.

One worker thread and one loaded model at a time, so the server never holds more than one
`derain remove` worth of memory however many photos arrive together. A job is read, derained and
written with the library's own `read_picture` / `Derainer.remove` / `write_picture`, so the file
the page hands back equals what `derain remove` writes for the same upload. Every file lives in
the job's folder inside the server's one temporary folder.
"""

from __future__ import annotations

import secrets
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from derain.errors import DerainError
from derain.inference import Derainer, load_model
from derain.io import Picture, read_picture, write_picture

ABANDON_S = 60.0  # a waiting photo whose page has not asked about it for this long is dropped
KEEP_FINISHED = 32  # finished jobs (and their files) kept for the page; older ones are removed
CLOSE_WAIT_S = 120.0  # how long stopping the server waits for the worker to leave its files


class QueueFull(DerainError):
    """Too many photos are waiting; the client should send this one later."""


class TooManyUploads(DerainError):
    """This client is already sending as many photos as one may at a time (`max_per_client`), so
    that one client, slow or hostile, can never hold every place in the queue."""


class Cancelled(Exception):
    """Raised between two tiles to stop a job (cancelled, abandoned, or the server stopping)."""


@dataclass
class Job:
    """One uploaded photo; its files are named by role, the user's name is kept for messages and the download."""

    id: str
    name: str
    model: str
    folder: Path
    client: str = ""  # the sender's address, for the per-client limit of uploads
    vapour: float | None = None  # share of the vapour to remove (None: the model's default)
    state: str = "uploading"  # uploading, queued, running, done, error, cancelled
    progress: float = 0.0  # fraction of the network's tiles done
    message: str = ""
    has_before: bool = False
    cancel: bool = False
    seen: float = field(default_factory=time.monotonic)

    @property
    def input(self) -> Path:
        return self.folder / f"input{Path(self.name).suffix.lower()}"

    @property
    def output(self) -> Path:
        return self.folder / f"output{Path(self.name).suffix.lower()}"

    def preview(self, which: str) -> Path:
        """The 8-bit JPEG the page shows for `before` or `after` (browsers show no TIFF or 16-bit)."""
        return self.folder / f"{which}.jpg"


class JobQueue:
    """The jobs of one server and the thread that runs them."""

    def __init__(self, root: Path, tile: int | str = "auto", max_waiting: int = 8,
                 abandon_s: float = ABANDON_S, max_per_client: int = 1) -> None:
        self.root, self.tile, self.max_waiting, self.abandon_s = root, tile, max_waiting, abandon_s
        self.max_per_client = max_per_client
        self._jobs: dict[str, Job] = {}  # in arrival order
        self._cond = threading.Condition()
        self._closed = False
        self._loaded: tuple[str, Derainer] | None = None
        self._thread = threading.Thread(target=self._work, name="derain-worker", daemon=True)
        self._thread.start()

    def new_job(self, name: str, model: str, client: str = "", vapour: float | None = None) -> Job:
        """Reserve a place and a folder for an upload (refused while `max_waiting` photos wait, or
        while `client` is sending `max_per_client` others)."""
        with self._cond:
            sending = sum(j.state == "uploading" and j.client == client for j in self._jobs.values())
            if sending >= self.max_per_client:
                raise TooManyUploads(f"{sending} photo(s) from this computer are still being sent; "
                                     f"send {name} when they are done")
            waiting = sum(j.state in ("uploading", "queued", "running") for j in self._jobs.values())
            if waiting >= self.max_waiting:
                raise QueueFull(f"{waiting} photos are already waiting; send {name} when they are done")
            job = Job(secrets.token_hex(8), name, model, self.root / secrets.token_hex(8), client, vapour)
            job.folder.mkdir()
            self._jobs[job.id] = job
            return job

    def submit(self, job: Job) -> None:
        """The upload is complete: queue it (the wait for its page starts now, not when it began)."""
        with self._cond:
            job.state, job.seen = "queued", time.monotonic()
            self._cond.notify()

    def discard(self, job: Job) -> None:
        """Forget a job and delete its files (a failed upload, a cancel, an old result)."""
        with self._cond:
            self._jobs.pop(job.id, None)
        shutil.rmtree(job.folder, ignore_errors=True)

    def get(self, job_id: str) -> Job | None:
        """The job, marked as still wanted by its page."""
        with self._cond:
            job = self._jobs.get(job_id)
            if job:
                job.seen = time.monotonic()
            return job

    def status(self, job: Job) -> dict[str, Any]:
        """What the page shows: state, progress, how many photos go first, the error if any."""
        with self._cond:
            ahead = 0
            for other in self._jobs.values():
                if other is job:
                    break
                ahead += other.state in ("queued", "running")
            return {"id": job.id, "name": job.name, "model": job.model, "vapour": job.vapour, "state": job.state,
                    "progress": round(job.progress, 3), "ahead": ahead if job.state == "queued" else 0,
                    "message": job.message, "before": job.has_before}

    def cancel(self, job: Job) -> None:
        """Stop a running job at its next tile; drop any other at once."""
        with self._cond:
            job.cancel = True
            if job.state == "running":
                return
        self.discard(job)

    def close(self) -> None:
        """Stop the worker (a running job stops at its next tile) so its folder can be removed."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(CLOSE_WAIT_S)

    def _next(self) -> Job | None:
        """The oldest queued job; queued jobs nobody asks about any more are dropped on the way."""
        now = time.monotonic()
        for job in list(self._jobs.values()):
            if job.state != "queued":
                continue
            if now - job.seen <= self.abandon_s:
                return job
            self._jobs.pop(job.id)
            shutil.rmtree(job.folder, ignore_errors=True)
        return None

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._closed and (job := self._next()) is None:
                    self._cond.wait()
                if self._closed:
                    return
                job.state, job.message = "running", "reading"
            try:
                self._process(job)
                state, message = "done", ""
            except Cancelled as exc:
                state, message = "cancelled", str(exc)
            except DerainError as exc:  # name the user's file, not our temporary one
                state, message = "error", str(exc).replace(str(job.input), job.name)
            except Exception as exc:  # noqa: BLE001 - one photo (e.g. out of memory) must not stop the server
                state, message = "error", f"{job.name}: {type(exc).__name__}: {exc}"
            with self._cond:
                job.state, job.message = state, message
                self._evict()
            if job.cancel:
                self.discard(job)

    def _check(self, job: Job) -> None:
        """Raise `Cancelled` if nobody wants this job any more; called between steps and tiles."""
        if self._closed:
            raise Cancelled("the server is stopping")
        if job.cancel:
            raise Cancelled("cancelled")
        if time.monotonic() - job.seen > self.abandon_s:
            raise Cancelled("abandoned: the page that sent it is gone")

    def _derainer(self, model: str) -> Derainer:
        """The model, loaded once; the previous one is released first, so two never share memory."""
        if self._loaded is None or self._loaded[0] != model:
            self._loaded = None
            self._loaded = (model, load_model(model, tile=self.tile))
        return self._loaded[1]

    def _process(self, job: Job) -> None:
        pic = read_picture(job.input)
        self._check(job)
        write_picture(job.preview("before"), Picture(pic.rgb))
        job.has_before, job.message = True, "loading the model"
        derainer = self._derainer(job.model)

        def progress(done: int, total: int) -> None:
            job.progress, job.message = done / total, f"derained {done} of {total} tiles"
            self._check(job)

        job.message = "deraining"
        pic.rgb = derainer.remove(pic.rgb, progress, job.vapour)
        job.message = "writing"
        self._check(job)
        write_picture(job.output, pic)
        write_picture(job.preview("after"), Picture(pic.rgb))

    def _evict(self) -> None:
        """Remove the oldest finished jobs beyond `KEEP_FINISHED` (called with the lock held)."""
        finished = [j for j in self._jobs.values() if j.state in ("done", "error", "cancelled")]
        for job in finished[:max(0, len(finished) - KEEP_FINISHED)]:
            self._jobs.pop(job.id)
            shutil.rmtree(job.folder, ignore_errors=True)
