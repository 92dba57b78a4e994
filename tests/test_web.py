"""`derain serve`: the API (limits, bad input, queue, disconnects) and the page in a real Chromium.

Images are made here; the result of the page must equal `derain remove` on the same file, byte
for byte. Browser tests are skipped only when Chromium, its driver or selenium is absent.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("starlette", reason="the web extra is not installed (pip install -e '.[web]')")

from conftest import add_streaks, run_cli, scene
from webtools import ServerThread, chromium, missing_browser, upload, wait_for_card

from derain.archs import create_model
from derain.io import Picture, write_picture
from derain.web.app import Settings
from derain.web.jobs import Job

LIMITS = Settings(max_bytes=400_000, max_pixels=1_200_000, max_waiting=3)


@pytest.fixture(scope="module")
def server():
    srv = ServerThread(LIMITS)
    yield srv
    srv.stop()


def request(server: ServerThread, method: str, path: str, body: bytes | None = None,
            headers: dict[str, str] | None = None) -> tuple[int, bytes, dict[str, str]]:
    conn = http.client.HTTPConnection(server.url.removeprefix("http://"), timeout=60)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        res = conn.getresponse()
        return res.status, res.read(), dict(res.getheaders())
    finally:
        conn.close()


def post(server: ServerThread, name: str, data: bytes, model: str = "") -> tuple[int, bytes]:
    query = f"filename={name}" + (f"&model={model}" if model else "")
    status, body, _ = request(server, "POST", f"/api/jobs?{query}", data, {"Content-Type": "application/octet-stream"})
    return status, body


def wait_done(server: ServerThread, job_id: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, body, _ = request(server, "GET", f"/api/jobs/{job_id}")
        assert status == 200, body
        job = json.loads(body)
        if job["state"] not in ("queued", "running"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish")


def rainy_file(path: Path, h: int = 120, w: int = 160, seed: int = 0, **kwargs) -> Path:
    write_picture(path, Picture(add_streaks(scene(h, w, seed), seed)), **kwargs)
    return path


def remove_cli(src: Path, out: Path) -> bytes:
    proc = run_cli("remove", str(src), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    return (out / src.name).read_bytes()


def png_header(width: int, height: int) -> bytes:
    """A PNG that claims `width` x `height`: Pillow's header is enough to see a bomb."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def root_entries(server: ServerThread) -> list[Path]:
    return list(server.app.state.queue.root.iterdir())


def stalled_upload(url: str, source: str = "127.0.0.1") -> socket.socket:
    """A client at `source` that announces a 300-kB photo, sends 1 kB of it and then nothing."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=30, source_address=(source, 0))
    sock.sendall(b"POST /api/jobs?filename=slow.png HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 b"Content-Type: application/octet-stream\r\nContent-Length: 300000\r\n\r\n" + b"\0" * 1000)
    return sock


def answer(sock: socket.socket) -> tuple[int, str]:
    """The status and text the server sends back on `sock` (which it then closes)."""
    with sock:
        res = http.client.HTTPResponse(sock)
        res.begin()
        return res.status, res.read().decode()


# --- the API --------------------------------------------------------------------------------------

def test_16bit_rgba_result_equals_derain_remove(server: ServerThread, tmp_path: Path) -> None:
    img = np.concatenate([add_streaks(scene(72, 96, 1), 1), np.linspace(0, 1, 72 * 96).reshape(72, 96, 1)], axis=2)
    src = tmp_path / "in" / "photo 16-bit.png"
    write_picture(src, Picture(img[..., :3], alpha=img[..., 3], bit_depth=16))
    status, body = post(server, "photo%2016-bit.png", src.read_bytes())
    assert status == 202, body
    job = wait_done(server, json.loads(body)["id"])
    assert job["state"] == "done" and job["progress"] == 1.0, job
    status, data, headers = request(server, "GET", f"/api/jobs/{job['id']}/result")
    assert status == 200 and 'filename*=utf-8\'\'photo%2016-bit.png' in headers["content-disposition"]
    assert data == remove_cli(src, tmp_path / "cli")
    for which in ("before", "after"):
        status, data, headers = request(server, "GET", f"/api/jobs/{job['id']}/{which}")
        assert status == 200 and headers["content-type"] == "image/jpeg" and data[:2] == b"\xff\xd8"


@pytest.mark.parametrize("case, status, message", [
    ("not an image", 415, "bad.png: not a readable image"),
    ("wrong type", 415, "notes.txt: not a supported image type"),
    ("no name", 400, "missing ?filename=NAME"),
    ("empty", 400, "bad.png: empty file (0 bytes)"),
    ("too many bytes", 413, "bad.png: over this server's limit of 0.38147 MiB (derain serve --max-upload-mb)"),
    ("too many pixels", 413, "bad.png: 1200x1100 is 1.3 MP, over this server's limit of 1.2 MP"),
    ("bomb", 413, "bad.png: over 100,000,000 pixels (decompression bomb?)"),
    ("unknown model", 400, "unknown model 'nope'"),
    ("model path", 400, "unknown model '/etc/passwd'"),
])
def test_bad_upload_is_one_line_4xx(server: ServerThread, case: str, status: int, message: str) -> None:
    name, data, model = "bad.png", b"this is not an image", ""
    if case == "wrong type":
        name = "notes.txt"
    elif case == "no name":
        name = ""
    elif case == "empty":
        data = b""
    elif case == "too many bytes":
        data = os.urandom(LIMITS.max_bytes + 1)
    elif case == "too many pixels":
        data = png_header(1200, 1100)
    elif case == "bomb":
        data = png_header(20_000, 20_000)
    elif case in ("unknown model", "model path"):
        model = "nope" if case == "unknown model" else "/etc/passwd"
    before = root_entries(server)
    got, body = post(server, name, data, model)
    text = body.decode()
    assert got == status, text
    assert text.startswith(message) and text.count("\n") == 1, text
    assert root_entries(server) == before  # nothing left behind
    assert request(server, "GET", "/api/config")[0] == 200  # and the server goes on


def test_byte_cap_holds_without_content_length(server: ServerThread) -> None:
    before = root_entries(server)
    conn = http.client.HTTPConnection(server.url.removeprefix("http://"), timeout=60)
    conn.request("POST", "/api/jobs?filename=big.png", body=iter([b"\0" * 100_000] * 5), encode_chunked=True,
                 headers={"Content-Type": "application/octet-stream"})
    res = conn.getresponse()
    assert res.status == 413 and res.read().decode().startswith("big.png: over this server's limit")
    conn.close()
    assert root_entries(server) == before


def test_corrupt_photo_fails_with_a_message(server: ServerThread, tmp_path: Path) -> None:
    data = rainy_file(tmp_path / "cut.jpg").read_bytes()
    status, body = post(server, "cut.jpg", data[: len(data) // 2])
    assert status == 202, body  # the header is fine: the damage shows when it is decoded
    job = wait_done(server, json.loads(body)["id"])
    assert job["state"] == "error" and job["message"].startswith("cut.jpg: corrupt or truncated image"), job
    assert "derain-serve" not in job["message"]
    status, body, _ = request(server, "GET", f"/api/jobs/{job['id']}/result")
    assert status == 409 and body.decode().startswith("cut.jpg: not derained (error")


def test_unknown_job_and_view(server: ServerThread) -> None:
    status, body, _ = request(server, "GET", "/api/jobs/0123456789abcdef")
    assert status == 404 and body.decode().count("\n") == 1


def test_queue_full_then_jobs_run_one_after_another(server: ServerThread, tmp_path: Path) -> None:
    queue = server.app.state.queue
    held = [queue.new_job("held.png", LIMITS.model, f"10.0.0.{i}")  # uploads in progress from other computers
            for i in range(LIMITS.max_waiting)]
    status, body = post(server, "a.png", rainy_file(tmp_path / "a.png").read_bytes())
    assert status == 503 and "3 photos are already waiting" in body.decode()
    for job in held:
        queue.discard(job)
    ids = [json.loads(post(server, f"{n}.png", rainy_file(tmp_path / f"{n}.png", seed=n).read_bytes())[1])["id"]
           for n in range(3)]
    jobs = [wait_done(server, i) for i in ids]
    assert [j["state"] for j in jobs] == ["done"] * 3


def test_cancel_removes_the_files(server: ServerThread, tmp_path: Path) -> None:
    status, body = post(server, "c.png", rainy_file(tmp_path / "c.png").read_bytes())
    assert status == 202, body
    job_id = json.loads(body)["id"]
    wait_done(server, job_id)
    assert request(server, "DELETE", f"/api/jobs/{job_id}")[0] == 204
    assert request(server, "GET", f"/api/jobs/{job_id}")[0] == 404
    assert all(p.name != job_id for p in root_entries(server))


def test_client_that_disconnects_mid_upload_leaves_nothing(server: ServerThread) -> None:
    host, port = server.url.removeprefix("http://").split(":")
    before = root_entries(server)
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(b"POST /api/jobs?filename=gone.png HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Content-Type: application/octet-stream\r\nContent-Length: 300000\r\n\r\n" + b"\0" * 1000)
        time.sleep(0.3)
    deadline = time.monotonic() + 10
    while root_entries(server) != before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert root_entries(server) == before
    assert request(server, "GET", "/api/config")[0] == 200


def test_slow_uploads_cannot_hold_the_queue(tmp_path: Path) -> None:
    """Issue 30 item 3a: clients that announced a large body and dribbled it held every place of
    the queue, so every other upload got 503. One computer now sends one photo at a time (429 for
    the next) and each within the time limit (408), whose end frees its place and its files."""
    srv = ServerThread(Settings(max_bytes=400_000, max_waiting=2, upload_timeout_s=2.0))
    try:
        slow = stalled_upload(srv.url)
        deadline = time.monotonic() + 10
        while not root_entries(srv):  # its place is taken
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert answer(stalled_upload(srv.url)) == (
            429, "1 photo(s) from this computer are still being sent; send slow.png when they are done\n")
        conn = http.client.HTTPConnection(srv.url.removeprefix("http://"), timeout=30, source_address=("127.0.0.2", 0))
        conn.request("POST", "/api/jobs?filename=other.png", rainy_file(tmp_path / "other.png").read_bytes())
        res = conn.getresponse()
        assert res.status == 202, res.read()  # another computer still has a place
        other = json.loads(res.read())["id"]
        conn.close()
        assert answer(slow) == (408, "slow.png: not received within this server's limit of 2 s "
                                     "(derain serve --upload-timeout)\n")
        assert wait_done(srv, other)["state"] == "done"
        assert [p.name for p in root_entries(srv)] == [srv.app.state.queue.get(other).folder.name]
    finally:
        srv.stop()


def test_a_full_disk_is_507_and_one_log_line(server: ServerThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             caplog: pytest.LogCaptureFixture) -> None:
    """Issue 30 item 3c: with the server's temporary folder on a full disk an upload got HTTP 500
    and the log a traceback. It is 507 with one line for the client and one for the log."""
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    data = rainy_file(tmp_path / "full.png").read_bytes()
    monkeypatch.setattr(Job, "input", property(lambda job: Path("/dev/full")))  # every write: ENOSPC
    before = root_entries(server)
    with caplog.at_level(logging.ERROR, logger="derain.web"):
        status, body = post(server, "full.png", data)
    assert (status, body.decode()) == (
        507, "full.png: the server cannot store the photo (No space left on device); try again later\n")
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("ERROR", f"derain: error: cannot store an upload in {tempfile.gettempdir()} (No space left on device)")]
    assert root_entries(server) == before


def test_a_request_from_the_page_of_another_site_is_refused(server: ServerThread, tmp_path: Path) -> None:
    """Issue 30 item 3d: a page of any web site could make the browser upload to (or cancel on) this
    server. A request whose Origin is not the server's own is refused with 403; the page's own
    requests (same origin) and those without Origin (curl) go on."""
    data = rainy_file(tmp_path / "o.png").read_bytes()
    before = root_entries(server)
    for origin in ("http://attacker.example", "null"):
        status, body, _ = request(server, "POST", "/api/jobs?filename=o.png", data, {"Origin": origin})
        assert (status, body.decode()) == (403, f"requests from the page of another site ({origin}) are refused\n")
    assert root_entries(server) == before
    status, body, _ = request(server, "POST", "/api/jobs?filename=o.png", data, {"Origin": server.url})
    assert status == 202, body
    assert wait_done(server, json.loads(body)["id"])["state"] == "done"


def test_other_host_header_is_refused(server: ServerThread) -> None:
    status, _, _ = request(server, "GET", "/", headers={"Host": "attacker.example:80"})
    assert status == 400


def test_page_uses_no_outside_asset() -> None:
    static = Path(__file__).resolve().parents[1] / "src" / "derain" / "web" / "static"
    for path in static.iterdir():
        text = path.read_text().replace('xmlns="http://www.w3.org/2000/svg"', "")  # a name, never fetched
        assert "http://" not in text and "https://" not in text and "//cdn" not in text, path


def test_large_photo_reports_progress_per_tile(tmp_path: Path) -> None:
    # a panorama: shorter side under the working size (640 px), so derained at full resolution, and
    # 2.7 MP, above the largest automatic tile (inference.FAST_TILE_PIXELS, 2.4 MP): 1 x 2 tiles
    srv = ServerThread(Settings(max_bytes=4_000_000, max_pixels=3_000_000))
    try:
        src = rainy_file(tmp_path / "large.jpg", 480, 5600)
        status, body = post(srv, "large.jpg", src.read_bytes())
        assert status == 202, body
        seen = []
        while (job := json.loads(request(srv, "GET", f"/api/jobs/{json.loads(body)['id']}")[1]))["state"] != "done":
            assert job["state"] in ("queued", "running"), job
            if job["message"].startswith("derained"):
                seen.append((job["message"], job["progress"]))
            time.sleep(0.05)
    finally:
        srv.stop()
    assert seen and [p for _, p in seen] == sorted(p for _, p in seen), seen
    assert set(seen) <= {(f"derained {i} of 2 tiles", round(i / 2, 3)) for i in range(1, 3)}, seen


def test_progress_is_reported_per_tile() -> None:
    from derain.inference import load_model

    seen: list[tuple[int, int]] = []
    load_model(tile=64, overlap=8).remove(scene(100, 150), lambda done, total: seen.append((done, total)))
    total = seen[-1][1]
    assert total > 1 and seen == [(i + 1, total) for i in range(total)]


def test_shutdown_removes_the_temporary_folder(tmp_path: Path) -> None:
    srv = ServerThread(LIMITS)
    status, body = post(srv, "s.png", rainy_file(tmp_path / "s.png").read_bytes())
    assert status == 202, body
    wait_done(srv, json.loads(body)["id"])
    root = srv.app.state.queue.root
    assert root.is_dir()
    srv.stop()
    assert not root.exists()


# --- the command ----------------------------------------------------------------------------------

def test_serve_says_where_and_stops_cleanly(tmp_path: Path) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "derain", "serve", "--port", "0"], stderr=subprocess.PIPE,
                            text=True, env=env)
    try:
        line = proc.stderr.readline()
        assert line.startswith("derain: serving on http://127.0.0.1:") and "only this computer" in line, line
        port = int(line.split("127.0.0.1:")[1].split()[0])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", "/")
        assert conn.getresponse().status == 200
        conn.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []  # its temporary folder is gone


def test_serve_stops_at_once_on_sigterm_during_a_stalled_upload(tmp_path: Path) -> None:
    """Issue 30 item 3b: uvicorn waits for open requests before it stops, so `derain serve` ignored
    SIGTERM while a client stalled in its upload (and a second signal logged "Exception in ASGI
    application" and a traceback). The first SIGTERM now ends the upload (503) and the server,
    with the one line of a stopped command, and its temporary folder is gone."""
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "derain", "serve", "--port", "0"], stderr=subprocess.PIPE,
                            text=True, env=env)
    try:
        line = proc.stderr.readline()
        assert line.startswith("derain: serving on http://127.0.0.1:"), line
        stalled = stalled_upload(line.split()[3])
        deadline = time.monotonic() + 10
        while not any(tmp_path.glob("derain-serve-*/*")):  # the upload's folder: it is in progress
            assert time.monotonic() < deadline
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        assert answer(stalled) == (503, "slow.png: the server is stopping; send it again once it is back\n")
        assert proc.wait(timeout=20) == 143
    finally:
        if proc.poll() is None:
            proc.kill()
        rest = proc.communicate()[1]
    assert rest == "derain: terminated\n"
    assert list(tmp_path.iterdir()) == []


def test_port_in_use_is_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        proc = run_cli("serve", "--port", str(taken.getsockname()[1]))
    assert proc.returncode == 2 and proc.stderr.startswith("derain: error: cannot listen on 127.0.0.1:"), proc.stderr
    assert proc.stderr.count("\n") == 1


@pytest.mark.parametrize("option,value", [("--max-upload-mb", "nan"), ("--max-upload-mb", "inf"),
                                          ("--max-megapixels", "nan"), ("--max-upload-mb", "-1")])
def test_impossible_limits_are_one_line_usage_errors(option: str, value: str) -> None:
    """Issue 30 item 3: NaN and inf passed click's bounds and ended in an internal error (exit 1)."""
    proc = run_cli("serve", "--port", "0", option, value)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith("derain: error:") and option in proc.stderr, proc.stderr


def test_a_model_that_cannot_run_is_refused_at_start_up(tmp_path: Path) -> None:
    """Issue 30 item 5: a .pth state dict does not say its architecture; the server used to start and
    then fail every upload. It now stops at once with the line `derain remove` gives."""
    weights = tmp_path / "evil.pth"
    torch.save(create_model("rain_unet_s").state_dict(), weights)
    proc = subprocess.Popen([sys.executable, "-m", "derain", "serve", "--port", "0", "-m", str(weights)],
                            stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stderr.readline()  # the error, or (the defect) the line that says where it serves
        assert line.startswith("derain: error:"), line
        assert proc.wait(timeout=60) == 2
    finally:
        if proc.poll() is None:
            proc.kill()
        rest = proc.communicate()[1]
    write_picture(tmp_path / "a.png", Picture(scene(16, 16)))
    remove = run_cli("remove", str(tmp_path / "a.png"), "-m", str(weights))
    assert remove.returncode == 2 and line + rest == remove.stderr, line + rest


def test_serve_without_the_web_extra_says_how_to_install() -> None:
    code = ("import sys; sys.modules['uvicorn'] = None; sys.argv = ['derain', 'serve']; "
            "from derain.cli import main; main()")
    proc = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr == ('derain: error: derain serve needs the web extra (uvicorn missing): '
                           'pip install -c constraints.txt "derain[web]"\n')


# --- the page in Chromium -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory):
    reason = missing_browser()
    if reason:
        pytest.skip(f"no browser test: {reason}")
    downloads = tmp_path_factory.mktemp("downloads")
    driver = chromium(downloads)
    driver.downloads = downloads
    yield driver
    driver.quit()


def test_page_derains_and_downloads_what_derain_remove_writes(server: ServerThread, browser, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    files = [rainy_file(tmp_path / "in" / "street.jpg", seed=3),
             rainy_file(tmp_path / "in" / "roof.png", 96, 128, seed=4)]
    upload(browser, server.url, files)
    for src in files:
        card = wait_for_card(browser, src.name)
        assert card.get_attribute("data-state") == "done", card.find_element(By.CLASS_NAME, "error").text
        for img in ("before", "after"):
            assert browser.execute_script("return arguments[0].naturalWidth", card.find_element(By.CLASS_NAME, img)) > 0
        card.find_element(By.CLASS_NAME, "zoom").click()  # 100 %: one photo pixel per CSS pixel
        assert "actual" in card.find_element(By.CLASS_NAME, "viewer").get_attribute("class")
        card.find_element(By.CLASS_NAME, "download").click()
        target = browser.downloads / src.name
        deadline = time.monotonic() + 30
        while not target.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.2)  # Chromium renames its .crdownload file when the download is complete
        assert target.read_bytes() == remove_cli(src, tmp_path / "cli")


def test_page_shows_why_a_file_is_refused(server: ServerThread, browser, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    bad = tmp_path / "holiday.jpg"
    bad.write_bytes(b"GIF89a? no, just text")
    cut = tmp_path / "cut.png"
    cut.write_bytes(rainy_file(tmp_path / "whole.png").read_bytes()[:300])
    upload(browser, server.url, [bad, cut])
    for path, message in ((bad, "holiday.jpg: not a readable image"), (cut, "cut.png: corrupt or truncated image")):
        card = wait_for_card(browser, path.name)
        assert card.get_attribute("data-state") == "error"
        assert card.find_element(By.CLASS_NAME, "error").text.startswith(message)
    assert request(server, "GET", "/api/config")[0] == 200


def test_vapour_amount_is_checked_before_the_upload(server: ServerThread, tmp_path: Path) -> None:
    status, body, _ = request(server, "GET", "/api/config")
    models = {m["name"]: m for m in json.loads(body)["models"]}
    assert models["derain_streaks"]["vapour"] is False and models["derain_streaks"]["vapour_default"] == 0
    data = rainy_file(tmp_path / "a.png").read_bytes()
    for bad in ("2", "-0.5", "abc", "nan", "inf"):
        status, body, _ = request(server, "POST", f"/api/jobs?filename=a.png&vapour={bad}", data,
                                  {"Content-Type": "application/octet-stream"})
        assert status == 400 and b"vapour must be a number from 0 to 1" in body and len(body.splitlines()) == 1
    status, body, _ = request(server, "POST", "/api/jobs?filename=a.png&model=derain_streaks&vapour=0.5", data,
                              {"Content-Type": "application/octet-stream"})
    assert status == 400 and b"has no vapour branch" in body


@pytest.fixture(scope="module")
def vapour_server(tmp_path_factory: pytest.TempPathFactory):
    """A server whose model has a vapour branch (untrained streaks, a visible veil: T about 0.6)."""
    from derain.weights import save_model

    torch.manual_seed(0)
    model = create_model("streaks_vapour_s").eval()
    torch.nn.init.constant_(model.vapour.transmission.bias, 0.0)
    path = tmp_path_factory.mktemp("model") / "joined.safetensors"
    save_model(path, model, "streaks_vapour_s", {"vapour": 0.25})
    srv = ServerThread(Settings(model=str(path), max_bytes=400_000, max_pixels=1_200_000))
    yield srv, path
    srv.stop()


def test_vapour_amount_reaches_the_engine(vapour_server, tmp_path: Path) -> None:
    srv, model = vapour_server
    status, body, _ = request(srv, "GET", "/api/config")
    assert {"name": str(model), "vapour": True, "vapour_default": 0.25}.items() <= json.loads(body)["models"][0].items()
    src = rainy_file(tmp_path / "a.png")
    results = {}
    for amount in ("0", "1"):
        status, body, _ = request(srv, "POST", f"/api/jobs?filename=a.png&vapour={amount}", src.read_bytes(),
                                  {"Content-Type": "application/octet-stream"})
        assert status == 202, body
        job = wait_done(srv, json.loads(body)["id"])
        assert job["state"] == "done" and job["vapour"] == float(amount)
        results[amount] = request(srv, "GET", f"/api/jobs/{job['id']}/result")[1]
        proc = run_cli("remove", str(src), "-m", str(model), "--vapour", amount, "-o", str(tmp_path / amount))
        assert proc.returncode == 0, proc.stderr
        assert results[amount] == (tmp_path / amount / "a.png").read_bytes()
    assert results["0"] != results["1"]


def test_page_offers_the_vapour_control_only_for_models_with_a_vapour_branch(server: ServerThread, vapour_server,
                                                                             browser, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    from selenium.webdriver.support.ui import Select

    browser.get(server.url)
    time.sleep(0.5)
    assert browser.find_element(By.ID, "vapour-control").is_displayed()  # the default has a vapour branch
    assert browser.find_element(By.ID, "vapour").get_attribute("value") == "0"  # and removes none by default
    Select(browser.find_element(By.ID, "model")).select_by_value("derain_streaks")
    assert not browser.find_element(By.ID, "vapour-control").is_displayed()
    assert "image/*" in browser.find_element(By.ID, "files").get_attribute("accept")
    srv, model = vapour_server
    src = rainy_file(tmp_path / "in" / "hill.png", seed=6)
    browser.get(srv.url)
    time.sleep(0.5)
    slider = browser.find_element(By.ID, "vapour")
    assert browser.find_element(By.ID, "vapour-control").is_displayed() and slider.get_attribute("value") == "25"
    browser.execute_script("arguments[0].value = 100; arguments[0].dispatchEvent(new Event('input'))", slider)
    assert browser.find_element(By.ID, "vapour-value").text == "100 %"
    browser.find_element(By.ID, "files").send_keys(str(src))
    card = wait_for_card(browser, src.name)
    assert card.get_attribute("data-state") == "done" and "100 % of the vapour" in card.text
    job = card.find_element(By.CLASS_NAME, "download").get_attribute("href")
    got = urllib.request.urlopen(job).read()
    proc = run_cli("remove", str(src), "-m", str(model), "--vapour", "1", "-o", str(tmp_path / "cli"))
    assert proc.returncode == 0 and got == (tmp_path / "cli" / src.name).read_bytes()
    assert urllib.request.urlopen(f"{srv.url}/favicon.svg").status == 200


SPLIT = """
    const [card, value] = arguments, slider = card.querySelector('.slider'), viewer = card.querySelector('.viewer');
    slider.value = value;
    slider.dispatchEvent(new Event('input'));
    const thumb = parseFloat(getComputedStyle(slider).getPropertyValue('--thumb'));  // its width in style.css
    const range = slider.getBoundingClientRect(), divider = card.querySelector('.divider').getBoundingClientRect();
    const photo = card.querySelector('.after').getBoundingClientRect(), view = viewer.getBoundingClientRect();
    return {thumb: thumb, thumb_x: range.left + thumb / 2 + value / 100 * (range.width - thumb),
            divider_x: divider.left + divider.width / 2, photo_x: photo.left + photo.width / 2, shown: photo.width,
            natural: card.querySelector('.after').naturalWidth, view_x: view.left + viewer.clientWidth / 2,
            view_width: viewer.clientWidth, scrolls: viewer.scrollWidth > viewer.clientWidth};
"""


def test_slider_thumb_stays_on_the_divider_at_every_zoom(server: ServerThread, browser, tmp_path: Path) -> None:
    """Issue 30 item 4: the slider spanned the card while the photo was centred and narrower, so its
    thumb and the divider parted, and 100 % pushed a narrow photo to the left. The slider is now as
    wide as the photo shown plus one thumb, at fit and at 100 %, for a photo narrower and one wider
    than the window; at 100 % a narrow photo stays centred and a wide one scrolls. A click on the
    photo still moves the split there."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    small = rainy_file(tmp_path / "in" / "small.png", 96, 128, seed=7)
    wide = rainy_file(tmp_path / "in" / "wide.jpg", 300, 1500, seed=8)  # wider than the 1280-px window
    assert wide.stat().st_size < LIMITS.max_bytes
    upload(browser, server.url, [small, wide])
    for src, width in ((small, 128), (wide, 1500)):
        card = wait_for_card(browser, src.name)
        assert card.get_attribute("data-state") == "done", card.find_element(By.CLASS_NAME, "error").text
        WebDriverWait(browser, 30).until(lambda d, c=card: d.execute_script(
            "return [...arguments[0].querySelectorAll('.stage img')].every((i) => i.complete && i.naturalWidth)", c))
        browser.execute_script("arguments[0].scrollIntoView({block: 'start'})", card)
        for zoom in ("fit", "100 %"):
            if zoom == "100 %":
                card.find_element(By.CLASS_NAME, "zoom").click()
            for value in (0, 20, 50, 80, 100):
                got = browser.execute_script(SPLIT, card, value)
                assert got["thumb"] == 16, got
                where = (src.name, zoom, value, got)
                assert abs(got["thumb_x"] - got["divider_x"]) <= 2, where
                assert got["natural"] == width, where
                if zoom == "fit":
                    assert got["shown"] <= got["view_width"] and abs(got["photo_x"] - got["view_x"]) <= 1, where
                else:
                    assert got["shown"] == width and got["scrolls"] == (src is wide), where
                    if src is small:
                        assert abs(got["photo_x"] - got["view_x"]) <= 1, where  # centred, not on the left
        card.find_element(By.CLASS_NAME, "zoom").click()  # back to fit, where the whole photo is in view
        stage = card.find_element(By.CLASS_NAME, "stage")
        offset = round(-0.3 * stage.rect["width"])  # from the photo's centre: at 20 % of its width
        ActionChains(browser).move_to_element_with_offset(stage, offset, 0).click().perform()
        value = float(card.find_element(By.CLASS_NAME, "slider").get_attribute("value"))
        assert abs(value - 20) <= 1, (src.name, value)
        got = browser.execute_script(SPLIT, card, value)
        assert abs(got["thumb_x"] - got["divider_x"]) <= 2, got
