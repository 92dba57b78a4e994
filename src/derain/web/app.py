"""The web server: the page, and the small API it drives (curl can drive it too).

    GET    /api/config                          models, the default one, the upload limits
    POST   /api/jobs?filename=NAME[&model=M]    body: the file's bytes -> 202 and the job
    GET    /api/jobs/ID                         state, progress, photos ahead, error message
    GET    /api/jobs/ID/before, /after          8-bit JPEG previews at full size, for the slider
    GET    /api/jobs/ID/result                  the derained file: same name, format and bit depth
    DELETE /api/jobs/ID                         cancel it, or forget a finished one

The upload is the raw body (no multipart parser to trust): it is streamed to disk and stopped at
the byte cap, and its header is checked against the pixel cap before it is queued. A refusal is a
4xx with one line of text; a photo that fails while it is derained (e.g. a truncated file) ends
in state `error` with one line, shown on the page.
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from derain.inference import load_model
from derain.io import IMAGE_EXTENSIONS, MAX_PIXELS, is_image_name
from derain.paths import DEFAULT_MODEL
from derain.web.jobs import Job, JobQueue, QueueFull
from derain.weights import model_info, shipped_models

STATIC = Path(__file__).resolve().parent / "static"
LOCAL_HOSTS = ("127.0.0.1", "localhost", "[::1]")  # Host headers a loopback-only server accepts


@dataclass(frozen=True)
class Settings:
    """What `derain serve`'s options decide."""

    model: str = DEFAULT_MODEL
    max_bytes: int = 200 * 2**20
    max_pixels: int = 50_000_000
    max_waiting: int = 8
    hosts: tuple[str, ...] = LOCAL_HOSTS  # Host headers served ("*": any); others are refused, so
    # that a web site cannot reach a loopback server through DNS rebinding


class Rejected(Exception):
    """A request refused with `status` and one line of text."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _models(settings: Settings) -> list[dict[str, str]]:
    """The models a page may choose: the shipped ones and the one `--model` named (never a path sent by a client)."""
    names = dict.fromkeys([settings.model, *shipped_models()])
    return [{"name": n, "description": str(model_info(n).get("description", ""))} for n in names]


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


async def _receive(request: Request, job: Job, max_bytes: int) -> None:
    """Stream the body into the job's input file, stopping at `max_bytes`."""
    size = 0
    with job.input.open("wb") as fh:
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_bytes:
                raise _too_large(job.name, max_bytes)
            fh.write(chunk)
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
    if model not in {m["name"] for m in request.app.state.models}:
        raise Rejected(400, f"unknown model {model!r}; this server offers "
                            f"{', '.join(m['name'] for m in request.app.state.models)}")
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > settings.max_bytes:
        raise _too_large(name, settings.max_bytes)
    try:
        job = queue.new_job(name, model)
    except QueueFull as exc:
        raise Rejected(503, str(exc)) from exc
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


def create_app(settings: Settings = Settings()) -> Starlette:
    """The ASGI app; its temporary folder exists from start-up to shut-down, then is removed."""
    models = _models(settings)  # a bad --model fails here, before the server starts,
    load_model(settings.model)  # and so does one that cannot run (a .pth that does not say its architecture),
    # with the line `derain remove` gives, not at every upload; the worker loads it again for the first photo

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        with tempfile.TemporaryDirectory(prefix="derain-serve-", ignore_cleanup_errors=True) as root:
            app.state.queue = JobQueue(Path(root), max_waiting=settings.max_waiting)
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
                    middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=list(settings.hosts))],
                    exception_handlers={Rejected: rejected})
    app.state.settings, app.state.models = settings, models
    return app
