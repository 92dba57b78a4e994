"""`derain batch` on Ray: same outputs as `derain remove`, bad images, resume, dying actors, sizing.

One Ray node with 2 CPUs (the size that once deadlocked) is started for the module; the CLI runs
in subprocesses that join it with `--address`, so Ray starts once.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from derain.io import Picture, write_picture

from conftest import add_streaks, default_sigint, run_cli, scene

ray = pytest.importorskip("ray")  # what follows needs the extra derain[ray]

from derain import batch as engine
from derain.inference import load_model


@pytest.fixture(scope="module")
def address() -> Iterator[str]:
    """A 2-CPU Ray instance for the whole module; all its processes stop at the end."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


def rainy(h: int = 40, w: int = 56, seed: int = 0) -> np.ndarray:
    return add_streaks(scene(h, w, seed=seed), seed=seed)


def make_images(folder: Path, names: list[str]) -> list[Path]:
    """Images of every kind the local engine keeps apart: 8/16-bit, gray, alpha, several formats."""
    paths = []
    for i, name in enumerate(names):
        rgb = rainy(seed=i)
        alpha = rgb[..., 0] if "alpha" in name else None
        pic = Picture(rgb, alpha=alpha, bit_depth=16 if "16" in name else 8, grayscale="gray" in name)
        write_picture(folder / name, pic)
        paths.append(folder / name)
    return paths


def one_line_errors(stderr: str) -> list[str]:
    assert "Traceback" not in stderr, stderr
    return [line for line in stderr.splitlines() if line.startswith("derain: error:")]


# tqdm's bar, as `derain remove` draws it: "100%|##########| 5/5 [00:04<00:00,  1.2img/s, 2 failed]"
PROGRESS = re.compile(r"\d+%\|.*\| (\d+)/(\d+) \[[^]]*(?:img/s|s/img), (\d+) failed\]")


def last_progress(stderr: str) -> tuple[int, int, int]:
    """Images done, of how many, and failed, as the progress bar showed them last."""
    bars = [m for line in stderr.splitlines() if (m := PROGRESS.fullmatch(line.strip()))]
    assert bars, stderr
    return int(bars[-1][1]), int(bars[-1][2]), int(bars[-1][3])


def test_without_the_extra_says_how_to_install(tmp_path: Path) -> None:
    code = "import sys; sys.modules['ray'] = None; from derain.cli import main; sys.argv[0] = 'derain'; main()"
    proc = subprocess.run([sys.executable, "-c", code, "batch", str(tmp_path), "-o", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "derain: error: derain batch needs Ray: pip install 'derain[ray]'"


@pytest.mark.parametrize("args, message", [
    (["--actors", "0"], "--actors"),
    (["-m", "no_such_model"], "no_such_model"),
    (["--tile", "big"], "--tile"),
    (["--png-compression", "10"], "--png-compression"),
    (["--jpeg-quality", "0"], "--jpeg-quality"),
    (["--address", "127.0.0.1:1"], "cannot reach the Ray cluster"),
])
def test_usage_errors_exit_2_before_any_work(tmp_path: Path, args: list[str], message: str) -> None:
    make_images(tmp_path / "in", ["a.png"])
    proc = run_cli("batch", str(tmp_path / "in"), "-o", str(tmp_path / "out"), *args)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "out" / "a.png").exists()


def test_same_outputs_as_remove_from_folders_lists_and_uris(tmp_path: Path, address: str) -> None:
    folder = make_images(tmp_path / "a", ["rgb.png", "deep16.png", "photo.jpg", "alpha.png"])
    by_uri = make_images(tmp_path / "b", ["gray.tif", "deep16.tiff", "pic.bmp"])
    listed = make_images(tmp_path / "c", ["listed.webp"])
    (tmp_path / "c" / "list.txt").write_text("# images\nlisted.webp\n\n")
    local = run_cli("remove", *map(str, folder + by_uri + listed), "-o", str(tmp_path / "ref"))
    assert local.returncode == 0, local.stderr
    proc = run_cli("batch", str(tmp_path / "a"), (tmp_path / "b").as_uri(), str(tmp_path / "c" / "list.txt"),
                   "-o", str(tmp_path / "out"), "--address", address, "--actors", "2")
    assert proc.returncode == 0, proc.stderr
    assert not one_line_errors(proc.stderr)
    expected = sorted(p.name for p in (tmp_path / "ref").iterdir())
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == expected
    for name in expected:
        assert (tmp_path / "out" / name).read_bytes() == (tmp_path / "ref" / name).read_bytes(), name


def test_bad_images_are_counted_and_a_rerun_resumes(tmp_path: Path, address: str) -> None:
    good = make_images(tmp_path / "in", ["a.png", "b.jpg", "c.png"])
    (tmp_path / "in" / "junk.png").write_bytes(b"not an image")
    (tmp_path / "in" / "cut.jpg").write_bytes(good[1].read_bytes()[:200])
    out = tmp_path / "out"
    args = ["batch", str(tmp_path / "in"), "-o", str(out), "--address", address]
    first = run_cli(*args)
    assert first.returncode == 1
    errors = one_line_errors(first.stderr)
    assert len(errors) == 2 and any("junk.png" in e for e in errors) and any("cut.jpg" in e for e in errors)
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.jpg", "c.png"]
    assert "derained 3 of 5 images" in first.stderr
    assert last_progress(first.stderr) == (5, 5, 2)  # issue 30 item 6: a bar, as `derain remove` has

    (out / "b.jpg").unlink()  # as if the job had been killed before this one
    kept = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    second = run_cli(*args)
    assert second.returncode == 1 and len(one_line_errors(second.stderr)) == 2
    assert "derained 1 of 5 images" in second.stderr and "2 skipped (outputs exist)" in second.stderr
    assert last_progress(second.stderr) == (3, 3, 2)  # the images of this run, not the skipped ones
    assert {name: (out / name).stat().st_mtime_ns for name in kept} == kept  # finished work not redone
    assert (out / "b.jpg").exists()


def test_a_rerun_removes_the_temporary_files_a_killed_run_left(tmp_path: Path, address: str) -> None:
    """Issue 30 item 1: an actor killed in the middle of a write leaves `.NAME.<hex>.EXT` in the
    output folder, and re-runs left it there for good. A re-run removes those of its own outputs,
    and nothing else that starts with a dot."""
    make_images(tmp_path / "in", ["a.png", "b.jpg"])
    out = tmp_path / "out"
    out.mkdir()
    stale = [out / ".a.png.0123abcd.png", out / ".b.jpg.89abcdef.jpg", out / ".b.jpg.fedcba98"]
    kept = [out / ".a.png.notmine.png", out / ".c.png.0123abcd.png", out / ".a.png.0123abcd.png.bak"]
    for path in stale + kept:
        path.write_bytes(b"half an image")
    proc = run_cli("batch", str(tmp_path / "in"), "-o", str(out), "--address", address)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(["a.png", "b.jpg", *(p.name for p in kept)])


# Put on PYTHONPATH, it is loaded by every Python process of the run, the actors of its local Ray
# instance too: an image write then hangs once its temporary file exists.
HANGING_WRITES = """
import time

import derain.io

_encode = derain.io._encode


def _hang(path, *args, **kwargs):
    _encode(path, *args, **kwargs)
    time.sleep(300)


derain.io._encode = _hang
"""


@pytest.mark.parametrize("sig, code, line", [(signal.SIGTERM, 143, "derain: terminated"),
                                             (signal.SIGINT, 130, "derain: aborted")])
def test_a_stopped_run_ends_on_one_line_and_leaves_no_temporary_file(tmp_path: Path, sig: int, code: int,
                                                                     line: str) -> None:
    """Issue 30 item 1: on SIGTERM Ray's core handler took over (exit 15 and a C++ stack dump), and
    after SIGTERM or Ctrl-C the temporary file of the actor that was writing stayed in the output
    folder. The signal is sent while an actor's write hangs (HANGING_WRITES)."""
    make_images(tmp_path / "in", ["a.png", "b.png"])
    (tmp_path / "hook").mkdir()
    (tmp_path / "hook" / "sitecustomize.py").write_text(HANGING_WRITES)
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}  # a local Ray instance of its own
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tmp_path / "hook"), env.get("PYTHONPATH")]))
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "derain", "batch", str(tmp_path / "in"), "-o", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=default_sigint)
    deadline = time.monotonic() + 240
    while not (out.is_dir() and any(p.name.startswith((".a.png.", ".b.png.")) for p in out.iterdir())):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no actor started writing"
        time.sleep(0.1)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == code, stderr
    assert stderr.rstrip().splitlines()[-1] == line, stderr
    assert all(not text.strip() or text.startswith("derain: ") or PROGRESS.fullmatch(text.strip())
               for text in stderr.splitlines()), stderr  # no stack dump
    assert list(out.iterdir()) == []


class DyingActor(engine.DerainActor):
    """Kills its own process on the first image (once, marked by a file) and on every `poison` image."""

    marker = ""

    def derain(self, src: str, dst: Path, data: bytes) -> str:
        if dst.name.startswith("poison"):
            os._exit(1)
        if not os.path.exists(self.marker):
            Path(self.marker).touch()
            os._exit(1)
        return super().derain(src, dst, data)


def test_dead_actors_are_retried_and_a_poison_image_is_reported(tmp_path: Path, address: str,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import tests/
    DyingActor.marker = str(tmp_path / "died-once")
    monkeypatch.setattr(engine, "DerainActor", DyingActor)
    sources = [str(p) for p in make_images(tmp_path / "in", ["a.png", "b.png", "poison.png", "c.png"])]
    job = engine.plan(sources, tmp_path / "out", overwrite=False)
    results = dict(engine.run(job, load_model(), engine.size_actors([2.0], 2), overwrite=False))
    assert Path(DyingActor.marker).exists()
    assert {Path(s).name: e for s, e in results.items() if e} == {
        "poison.png": f"{sources[2]}: not processed: its worker died {engine.MAX_TASK_RETRIES + 1} times"}
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "b.png", "c.png"]


def test_sizing_always_leaves_room_to_read() -> None:
    for nodes in ([2.0], [2.0, 2.0], [16.0], [4.0, 1.0]):
        for actors in (None, 1, 2, 3, 8):
            s = engine.size_actors(nodes, actors)
            assert s.actors * s.cpus + len(nodes) * engine.READ_CPUS <= sum(nodes)
            assert s.cpus + engine.READ_CPUS <= max(nodes) and s.threads >= 1
    assert engine.size_actors([2.0], None) == engine.Sizing(2, 0.87, 1)
    assert engine.size_actors([2.0], 1) == engine.Sizing(1, 1.75, 2)
    assert engine.size_actors([4.0, 4.0], 2) == engine.Sizing(2, 3.75, 4)  # one per node


def test_expand_sources(tmp_path: Path) -> None:
    make_images(tmp_path / "d", ["x.png", "y.jpg"])
    (tmp_path / "d" / "notes.md").write_text("hi")
    (tmp_path / "list.txt").write_text(f"d/x.png\n{(tmp_path / 'd').as_uri()}\nmissing.png\n")
    sources, errors = engine.expand_sources((str(tmp_path / "list.txt"), "file:///no/such/dir", "nosuchscheme://x"))
    assert sources == [str(tmp_path / "d" / "x.png"), str(tmp_path / "d" / "y.jpg")]
    assert len(errors) == 3 and any("missing.png" in e for e in errors)
