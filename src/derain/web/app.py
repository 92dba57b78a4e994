"""The web server: the page, and the small API it drives (curl can drive it too).

    GET    /api/config                          models, the default one, the upload limits
    POST   /api/jobs?filename=NAME[&model=M][&vapour=X]
                                                body: the file's bytes -> 202 and the job; X: the share
                                                of the vapour to remove, 0 to 1 (models with a vapour branch)
    GET    /api/jobs/ID                         state, progress, photos ahead, error message
    GET    /api/jobs/ID/before, /after          8-bit JPEG previews at full size, for the slider
    GET    /api/jobs/ID/result                  the derained file: same name, format and bit depth
    DELETE /api/jobs/ID                         cancel it, or forget a finished one

The upload is the raw body (no multipart parser to trust): it is streamed to disk and stopped at
the byte cap, and its header is checked against the pixel cap before it is queued. A client may
send `max_uploads_per_client` photos at a time and each within `upload_timeout_s`, so clients that
announce a large body and dribble it cannot hold the queue; stopping the server ends the uploads
in progress (503) at once. A request that a page of another site sends (its Origin header names
another origin) is refused (403). A refusal is a 4xx (507 when the server's disk is full) with one
line of text; a photo that fails while it is derained (e.g. a truncated file) ends in state
`error` with one line, shown on the page.
"""

from __future__ import annotations

import asyncio
import logging
import math
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from derain.archs import arch_info, list_models
from derain.inference import load_model
from derain.io import IMAGE_EXTENSIONS, MAX_PIXELS, is_image_name
from derain.paths import DEFAULT_MODEL
from derain.web.jobs import Job, JobQueue, QueueFull, TooManyUploads
from derain.weights import model_info, shipped_models

STATIC = Path(__file__).resolve().parent / "static"
LOCAL_HOSTS = ("127.0.0.1", "localhost", "[::1]")  # Host headers a loopback-only server accepts
log = logging.getLogger(__name__)  # `derain serve` prints it on stderr, one line a message


@dataclass(frozen=True)
class Settings:
    """What `derain serve`'s options decide."""

    model: str = DEFAULT_MODEL
    max_bytes: int = 200 * 2**20
    max_pixels: int = 50_000_000
    max_waiting: int = 8
    hosts: tuple[str, ...] = LOCAL_HOSTS  # Host headers served ("*": any); others are refused, so
    # that a web site cannot reach a loopback server through DNS rebinding
    upload_timeout_s: float = 120.0  # 200 MiB at 2 MiB/s; a slower upload holds a place too long
    max_uploads_per_client: int = 1  # the page sends one photo at a time


class Rejected(Exception):
    """A request refused with `status` and one line of text."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _models(settings: Settings) -> list[dict[str, Any]]:
    """The models a page may choose: the shipped ones and the one `--model` named (never a path sent by a
    client), with whether each can remove vapour and how much it removes by default."""
    names = dict.fromkeys([settings.model, *shipped_models()])
    infos = {n: model_info(n) for n in names}
    return [{"name": n, "description": str(info.get("description", "")), "vapour": _has_vapour(info),
             "vapour_default": float(info.get("vapour", 0.0))} for n, info in infos.items()]


def _has_vapour(info: dict[str, Any]) -> bool:
    arch = info.get("arch")
    return isinstance(arch, str) and arch in list_models() and arch_info(arch).vapour


def _vapour(request: Request, model: dict[str, Any]) -> float | None:
    """The `vapour` query parameter: a share in [0, 1] for a model with a vapour branch (0 for others)."""
    raw = request.query_params.get("vapour")
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or not 0 <= value <= 1:
        raise Rejected(400, f"vapour must be a number from 0 to 1, got {raw!r}")
    if value and not model["vapour"]:
        raise Rejected(400, f"{model['name']} has no vapour branch, so it cannot remove vapour (vapour must be 0)")
    return value


def _upload_name(raw: str) -> str:
    """The file name without any folder part; its extension decides the output format."""
    name = raw.replace("\\", "/").rsplit("/", 1)[-1].strip()
    if not name:
        raise Rejected(400, "missing ?filename=NAME: the name decides the output format")
    if not is_image_name(Path(name)):
        raise Rejected(415, f"{name}: not a supported image type ({', '.join(IMAGE_EXTENSIONS)})")
    return name


def _check_pixels(path: Path, name: str, max_pixels: int) -> None:
    """Read only the header: a bomb or an oversized photo is refused before any pixel is decoded."""
    try:
        with Image.open(path) as im:
            width, height = im.size
    except Image.DecompressionBombError as exc:
        raise Rejected(413, f"{name}: over {MAX_PIXELS:,} pixels (decompression bomb?)") from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise Rejected(415, f"{name}: not a readable image") from exc
    if width * height > max_pixels:
        raise Rejected(413, f"{name}: {width}x{height} is {width * height / 1e6:.1f} MP, over this server's "
                            f"limit of {max_pixels / 1e6:g} MP (derain serve --max-megapixels)")


def _too_large(name: str, max_bytes: int) -> Rejected:
    return Rejected(413, f"{name}: over this server's limit of {max_bytes / 2**20:g} MiB "
                         "(derain serve --max-upload-mb)")


def _cannot_store(name: str, exc: OSError) -> Rejected:
    """A full (or failing) disk under the server's temporary folder: the client is told, and the
    server's log gets one line (not a traceback)."""
    reason = exc.strerror or str(exc)
    log.error("derain: error: cannot store an upload in %s (%s)", tempfile.gettempdir(), reason)
    return Rejected(507, f"{name}: the server cannot store the photo ({reason}); try again later")


class Uploads:
    """The uploads in progress, each under its time limit; `stop` ends them all at once, for a
    server that waits for its open requests to finish before it stops."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.stopping = False
        self._limits: set[asyncio.Timeout] = set()

    @asynccontextmanager
    async def limit(self, name: str) -> AsyncIterator[None]:
        """Run the block within the time limit; an upload that overruns it, or that the server stops, is refused."""
        try:  # one that starts after `stop` (its request was read as the server began to stop) ends at once
            async with asyncio.timeout(0 if self.stopping else self.timeout_s) as limit:
                self._limits.add(limit)
                try:
                    yield
                finally:
                    self._limits.discard(limit)
        except TimeoutError:
            if self.stopping:
                raise Rejected(503, f"{name}: the server is stopping; send it again once it is back") from None
            raise Rejected(408, f"{name}: not received within this server's limit of {self.timeout_s:g} s "
                                "(derain serve --upload-timeout)") from None

    def stop(self) -> None:
        """End every upload in progress now (in the event loop's thread: see `stop_uploads`)."""
        self.stopping = True
        for limit in self._limits:
            if not limit.expired():
                limit.reschedule(0)  # a moment past: the upload ends at its next await


def stop_uploads(app: Starlette) -> None:
    """End the uploads in progress of a running `app` (503); safe from a signal handler or another thread."""
    loop: asyncio.AbstractEventLoop | None = getattr(app.state, "loop", None)
    if loop is not None and not loop.is_closed():
        loop.call_soon_threadsafe(app.state.uploads.stop)


async def _receive(request: Request, job: Job, max_bytes: int) -> None:
    """Stream the body into the job's input file, stopping at `max_bytes` and at the time limit."""
    size = 0
    try:
        with job.input.open("wb") as fh:
            async with request.app.state.uploads.limit(job.name):
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > max_bytes:
                        raise _too_large(job.name, max_bytes)
                    fh.write(chunk)
    except OSError as exc:
        raise _cannot_store(job.name, exc) from exc
    if size == 0:
        raise Rejected(400, f"{job.name}: empty file (0 bytes)")


async def config(request: Request) -> JSONResponse:
    settings: Settings = request.app.state.settings
    return JSONResponse({"models": request.app.state.models, "model": settings.model,
                         "max_bytes": settings.max_bytes, "max_pixels": settings.max_pixels,
                         "extensions": list(IMAGE_EXTENSIONS)})


async def create_job(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    queue: JobQueue = request.app.state.queue
    name = _upload_name(request.query_params.get("filename", ""))
    model = request.query_params.get("model") or settings.model
    offered = {m["name"]: m for m in request.app.state.models}
    if model not in offered:
        raise Rejected(400, f"unknown model {model!r}; this server offers {', '.join(offered)}")
    vapour = _vapour(request, offered[model])
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > settings.max_bytes:
        raise _too_large(name, settings.max_bytes)
    try:
        job = queue.new_job(name, model, request.client.host if request.client else "", vapour)
    except TooManyUploads as exc:
        raise Rejected(429, str(exc)) from exc
    except QueueFull as exc:
        raise Rejected(503, str(exc)) from exc
    except OSError as exc:  # its folder could not be made
        raise _cannot_store(name, exc) from exc
    try:
        await _receive(request, job, settings.max_bytes)
        await run_in_threadpool(_check_pixels, job.input, name, settings.max_pixels)
    except ClientDisconnect:  # nobody to answer: just leave nothing behind
        queue.discard(job)
        return Response(status_code=400)
    except BaseException:
        queue.discard(job)
        raise
    queue.submit(job)
    return JSONResponse(queue.status(job), status_code=202)


def _job(request: Request) -> Job:
    job = request.app.state.queue.get(request.path_params["job_id"])
    if job is None:
        raise Rejected(404, "no such photo: it was removed, or the server was restarted")
    return job


async def job_status(request: Request) -> JSONResponse:
    job = _job(request)
    return JSONResponse(request.app.state.queue.status(job))


async def cancel_job(request: Request) -> Response:
    request.app.state.queue.cancel(_job(request))
    return Response(status_code=204)


async def preview(request: Request) -> FileResponse:
    job, which = _job(request), request.path_params["which"]
    if which not in ("before", "after"):
        raise Rejected(404, f"no such view {which!r}; use before or after")
    ready = job.has_before if which == "before" else job.state == "done"
    if not ready:
        raise Rejected(409, f"{job.name}: no {which} image yet ({job.state})")
    return FileResponse(job.preview(which), media_type="image/jpeg")


async def result(request: Request) -> FileResponse:
    job = _job(request)
    if job.state != "done":
        raise Rejected(409, f"{job.name}: not derained ({job.state}{': ' + job.message if job.message else ''})")
    return FileResponse(job.output, filename=job.name)


async def rejected(request: Request, exc: Exception) -> PlainTextResponse:
    assert isinstance(exc, Rejected)
    return PlainTextResponse(f"{exc}\n", status_code=exc.status)


class SameOrigin:
    """Refuse (403) a request whose Origin header names another origin than this server's: one
    that a page of another web site makes the browser send (an upload, a cancel). Browsers add
    Origin to such requests; the page's own and those of curl have this server's origin or none."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = Headers(scope=scope)
            origin = headers.get("origin")
            if origin is not None and origin != f"{scope['scheme']}://{headers.get('host', '')}":
                response = PlainTextResponse(f"requests from the page of another site ({origin}) are refused\n",
                                             status_code=403)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(settings: Settings = Settings()) -> Starlette:
    """The ASGI app; its temporary folder exists from start-up to shut-down, then is removed."""
    models = _models(settings)  # a bad --model fails here, before the server starts,
    load_model(settings.model)  # and so does one that cannot run (a .pth that does not say its architecture),
    # with the line `derain remove` gives, not at every upload; the worker loads it again for the first photo

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        with tempfile.TemporaryDirectory(prefix="derain-serve-", ignore_cleanup_errors=True) as root:
            app.state.queue = JobQueue(Path(root), max_waiting=settings.max_waiting,
                                       max_per_client=settings.max_uploads_per_client)
            app.state.loop = asyncio.get_running_loop()
            try:
                yield
            finally:
                await run_in_threadpool(app.state.queue.close)

    routes = [
        Route("/api/config", config),
        Route("/api/jobs", create_job, methods=["POST"]),
        Route("/api/jobs/{job_id}", job_status),
        Route("/api/jobs/{job_id}", cancel_job, methods=["DELETE"]),
        Route("/api/jobs/{job_id}/result", result),
        Route("/api/jobs/{job_id}/{which:str}", preview),
        Mount("/", StaticFiles(directory=STATIC, html=True)),
    ]
    app = Starlette(routes=routes, lifespan=lifespan,
                    middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=list(settings.hosts)),
                                Middleware(SameOrigin)],
                    exception_handlers={Rejected: rejected})
    app.state.settings, app.state.models = settings, models
    app.state.uploads = Uploads(settings.upload_timeout_s)
    return app
