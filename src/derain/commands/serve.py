"""`derain serve`: the local web page (extra `derain[web]`).

The socket is bound here, before the server starts, so a port in use is one line, `--port 0`
picks a free port, and the line that says where the page is tells the truth (tests read it).
Ctrl-C or SIGTERM stops it at once, also while a client is in the middle of an upload (uvicorn
alone waits for it to finish), with the one line of every stopped command.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import logging
import socket
from types import FrameType

import click

from derain.cli import FiniteFloatRange
from derain.errors import DerainError
from derain.paths import DEFAULT_MODEL

WEB_PACKAGES = ("starlette", "uvicorn")


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def listen(host: str, port: int) -> socket.socket:
    """A listening socket on host:port, or one line saying why not."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(64)
    except OSError as exc:
        raise DerainError(f"cannot listen on {host}:{port} ({exc.strerror or exc})") from exc
    return sock


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; 0.0.0.0 lets other computers on the network use the page.")
@click.option("--port", default=7860, show_default=True, type=click.IntRange(0, 65535), help="Port (0: any free one).")
@click.option("-m", "--model", "model_name", default=DEFAULT_MODEL, show_default=True,
              help="Model selected on the page: shipped name, peer name or .safetensors path "
                   "(the shipped ones are offered too).")
@click.option("--max-upload-mb", default=200.0, show_default=True,
              type=FiniteFloatRange(min=0, min_open=True), help="Largest upload, in MiB.")
@click.option("--max-megapixels", default=50.0, show_default=True,
              type=FiniteFloatRange(min=0, max=100, min_open=True),
              help="Largest photo, in millions of pixels (refused from its header, before decoding).")
@click.option("--max-waiting", default=8, show_default=True, type=click.IntRange(min=1),
              help="Photos that may wait in the queue; one is derained at a time.")
@click.option("--upload-timeout", default=120.0, show_default=True, type=FiniteFloatRange(min=0, min_open=True),
              help="Seconds an upload may take; a slower one is refused, so it cannot hold a place in the queue.")
@click.option("--max-uploads-per-client", default=1, show_default=True, type=click.IntRange(min=1),
              help="Photos one computer may send at a time (the page sends one after another).")
def serve(host: str, port: int, model_name: str, max_upload_mb: float, max_megapixels: float, max_waiting: int,
          upload_timeout: float, max_uploads_per_client: int) -> None:
    """Serve a page to derain photos in the browser: drop photos, compare, download."""
    missing = [name for name in WEB_PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        raise DerainError(f"derain serve needs the web extra ({', '.join(missing)} missing): "
                          'pip install -c constraints.txt "derain[web]"')
    import uvicorn

    from derain.web.app import LOCAL_HOSTS, Settings, create_app, log, stop_uploads

    local = _is_loopback(host)
    shown = f"[{host}]" if ":" in host else host
    app = create_app(Settings(model=model_name, max_bytes=int(max_upload_mb * 2**20),
                              max_pixels=int(max_megapixels * 1e6), max_waiting=max_waiting,
                              hosts=(*LOCAL_HOSTS, shown) if local else ("*",), upload_timeout_s=upload_timeout,
                              max_uploads_per_client=max_uploads_per_client))
    sock = listen(host, port)
    bound_port = sock.getsockname()[1]
    reach = "only this computer can open it" if local else "other computers on the network can open it too"
    click.echo(f"derain: serving on http://{shown}:{bound_port} ({reach}; Ctrl-C stops)", err=True)
    log.addHandler(logging.StreamHandler())  # the server's own lines, as they are (they start with derain:)

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            """Stop as uvicorn does, and end the uploads in progress, whose end it would wait for."""
            super().handle_exit(sig, frame)
            stop_uploads(app)

    server = Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on"))
    server.run(sockets=[sock])  # then uvicorn raises the signal that stopped it again: ours turn it into one line
