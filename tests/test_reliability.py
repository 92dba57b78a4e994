"""Reliability defects of issue 13, each through the CLI in a subprocess (and one for the fallback
of the publishing helper where hard links are impossible)."""

from __future__ import annotations

import importlib.util
import os
import pickle
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from derain.archs import create_model
from derain.atomic import atomic_write_text
from derain.errors import DerainError
from derain.io import Picture, read_picture, write_picture
from derain.synth.cli import make_stage
from derain.weights import save_model

from conftest import add_streaks, default_sigint, run_cli, scene


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    for name in ("a.png", "b.png"):
        write_picture(folder / name, Picture(add_streaks(scene(32, 40))))
    return folder


@pytest.fixture(scope="module")
def big_photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1-MP 16-bit PNG: its pure-Python encoding keeps the temporary output on disk for a while."""
    path = tmp_path_factory.mktemp("big") / "big.png"
    write_picture(path, Picture(scene(1000, 1000), bit_depth=16))
    return path


def one_error_line(proc: subprocess.CompletedProcess[str], match: str, code: int = 2) -> None:
    assert proc.returncode == code, proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("derain: error:"), proc.stderr
    assert match in proc.stderr, proc.stderr


def hidden(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.startswith(".")]


def start_until(args: list[str], moment: Callable[[], bool],
                env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """Start `derain ARGS` (`env` added to ours) and return once `moment()` holds (the run is then in
    the middle of its work)."""
    proc = subprocess.Popen([sys.executable, "-m", "derain", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint,
                            env={**os.environ, **(env or {})})
    deadline = time.monotonic() + 240
    while not moment():
        assert proc.poll() is None, f"finished before the moment came: {proc.communicate()}"
        assert time.monotonic() < deadline
        time.sleep(0.002)
    return proc


def test_no_overwrite_publishing_never_replaces_a_file_that_appears_meanwhile(big_photo: Path, tmp_path: Path) -> None:
    """Item 1: another run's output that appears while this one writes is kept, and reported."""
    out = tmp_path / "out"
    out.mkdir()
    proc = start_until(["remove", str(big_photo), "-o", str(out)], lambda: bool(hidden(out)))
    (out / "big.png").write_bytes(b"the other run's result")
    _, stderr = proc.communicate(timeout=240)
    assert proc.returncode == 1 and "already exists" in stderr and "Traceback" not in stderr, stderr
    assert (out / "big.png").read_bytes() == b"the other run's result"
    assert hidden(out) == []


def test_no_overwrite_publishing_without_hard_links(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Item 1, fallback: where hard links are impossible the name is still claimed, never replaced."""
    def no_links(src: object, dst: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    target = tmp_path / "report.txt"
    atomic_write_text(target, "first", overwrite=False)
    with pytest.raises(DerainError, match="already exists"):
        atomic_write_text(target, "second", overwrite=False)
    assert target.read_text() == "first" and hidden(tmp_path) == []


def test_unsupported_files_in_a_list_are_skipped(photos: Path) -> None:
    """Item 2."""
    (photos / "anim.gif").write_bytes(b"GIF89a")
    (photos / "notes.txt").write_text("shot list")
    names = ["a.png", "anim.gif", "notes.txt", "b.png"]
    proc = run_cli("remove", *[str(photos / n) for n in names])
    assert proc.returncode == 1, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("derain: error:")]
    assert len(errors) == 2 and "anim.gif" in errors[0] and "notes.txt" in errors[1], proc.stderr
    assert (photos / "a_derained.png").is_file() and (photos / "b_derained.png").is_file()


def test_longest_legal_file_name(tmp_path: Path) -> None:
    """Item 3: a 255-byte name (two-byte characters, so the temporary name is cut between them)."""
    name = "é" * 125 + "a.png"
    assert len(os.fsencode(name)) == 255
    write_picture(tmp_path / "short.png", Picture(scene(24, 24)))
    (tmp_path / "short.png").rename(tmp_path / name)
    proc = run_cli("remove", str(tmp_path / name), "-o", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    assert read_picture(tmp_path / "out" / name).rgb.shape == (24, 24, 3)


def test_sigterm_during_a_write_cleans_up(big_photo: Path, tmp_path: Path) -> None:
    """Item 4, remove."""
    out = tmp_path / "out"
    out.mkdir()
    proc = start_until(["remove", str(big_photo), "-o", str(out)], lambda: bool(hidden(out)))
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 143 and stderr == "derain: terminated\n", stderr
    assert list(out.iterdir()) == []


def test_sigterm_during_synth_cleans_up(tmp_path: Path) -> None:
    """Item 4, synth: the hidden staging folder goes too."""
    clean = tmp_path / "clean"
    for i in range(12):
        write_picture(clean / f"{i}.png", Picture(scene(256, 256, seed=i)))
    proc = start_until(["synth", "--clean", str(clean), "--out", str(tmp_path / "out")],
                       lambda: any(".partial-" in name for name in hidden(tmp_path)))
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 143 and stderr.splitlines()[-1] == "derain: terminated", stderr
    assert "Traceback" not in stderr
    assert hidden(tmp_path) == [] and not (tmp_path / "out").exists()


HALF_BUILT = """
import sys
import derain.cli as cli

class HalfBuilt:  # like a progress bar whose constructor the signal interrupted
    def __del__(self) -> None:
        raise AttributeError("'HalfBuilt' object has no attribute 'pos'")

@cli.cli.command("half-built")
def half_built() -> None:
    keep = HalfBuilt()
    raise cli.Terminated

cli.COMMANDS["half-built"] = ("__main__:half_built", "")
sys.argv = ["derain", "half-built"]
cli.main()
"""


def test_sigterm_inside_a_constructor_still_ends_on_one_line() -> None:
    """Item 4: the CI once saw a traceback after the line, from a half-built progress bar's `__del__`."""
    proc = subprocess.run([sys.executable, "-c", HALF_BUILT], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 143 and proc.stderr == "derain: terminated\n", proc.stderr


def test_an_interruption_the_moment_a_temporary_file_appears_leaves_nothing(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Item 4, the narrowest moment (CI once sent SIGTERM there): the temporary file exists but the
    code that removes it has not yet been handed its name."""
    close = os.close

    def close_then_interrupt(fd: int) -> None:
        close(fd)
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(os, "close", close_then_interrupt)
        with pytest.raises(KeyboardInterrupt):
            atomic_write_text(tmp_path / "report.txt", "never published")
    assert list(tmp_path.iterdir()) == []


def test_an_interruption_while_the_synth_stage_is_made_leaves_nothing(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Item 4, synth: the staging folder exists, its sub-folders are being made."""
    mkdir, calls = os.mkdir, []

    def mkdir_then_interrupt(path: object, *args: object, **kwargs: object) -> None:
        mkdir(path, *args, **kwargs)  # type: ignore[arg-type]
        calls.append(path)
        if len(calls) == 2:  # the stage and its first sub-folder exist
            raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(os, "mkdir", mkdir_then_interrupt)
        with pytest.raises(KeyboardInterrupt):
            make_stage(tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("suffix", ["/evil", "/../../x"])
def test_suffix_with_a_path_is_a_usage_error(photos: Path, suffix: str) -> None:
    """Item 5."""
    one_error_line(run_cli("remove", str(photos / "a.png"), "--suffix", suffix), "--suffix")
    assert sorted(p.name for p in photos.iterdir()) == ["a.png", "b.png"]


@pytest.mark.parametrize("args,match", [(["--tile", "7", "--overlap", "0"], "grid"), (["--tile", "²"], "--tile")])
def test_impossible_tiles_are_refused_up_front(photos: Path, args: list[str], match: str) -> None:
    """Item 6."""
    one_error_line(run_cli("remove", str(photos / "a.png"), *args), match)


@pytest.mark.parametrize("kwargs", [{"bogus": 1}, [1]])
def test_model_file_with_bad_arch_kwargs(photos: Path, tmp_path: Path, kwargs: object) -> None:
    """Item 7."""
    weights = tmp_path / "bad.safetensors"
    save_model(weights, create_model("rain_unet_s"), "rain_unet_s", arch_kwargs=kwargs)  # type: ignore[arg-type]
    one_error_line(run_cli("remove", str(photos / "a.png"), "-m", str(weights)), "not a valid model file")


def test_nan_weights_fail_the_image(photos: Path, tmp_path: Path) -> None:
    """Item 8: no black image, exit 1."""
    net = create_model("rain_unet_s")
    with torch.no_grad():
        for p in net.parameters():
            p.fill_(float("nan"))
    save_model(tmp_path / "nan.safetensors", net, "rain_unet_s")
    proc = run_cli("remove", str(photos / "a.png"), "-m", str(tmp_path / "nan.safetensors"))
    one_error_line(proc, "not finite", code=1)
    assert "a.png" in proc.stderr and not (photos / "a_derained.png").exists()


@pytest.mark.parametrize("device", ["mps", "meta"])
def test_unusable_devices_are_refused_up_front(photos: Path, device: str) -> None:
    """Item 9."""
    if device == "mps" and torch.backends.mps.is_available():
        pytest.skip("this machine has MPS")
    one_error_line(run_cli("remove", str(photos / "a.png"), "--device", device), "device")


def test_eval_checks_its_output_folder_first(photos: Path, tmp_path: Path) -> None:
    """Item 10: a folder that cannot be made fails before any image is scored (no progress bar)."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    proc = run_cli("eval", "-m", "input", "-d", str(photos), "-o", str(blocker / "sub"))
    one_error_line(proc, "cannot write")


def test_raw_pickle_as_peer_weights_is_one_line(photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Item 12: torch's warnings about the pickle are not shown."""
    peer = tmp_path / "peers" / "prenet" / "PReNet6_Rain100L.pth"
    peer.parent.mkdir(parents=True)
    peer.write_bytes(pickle.dumps({"weight": [1.0, 2.0]}, protocol=4))
    monkeypatch.setenv("DERAIN_PEERS", str(tmp_path / "peers"))
    one_error_line(run_cli("remove", str(photos / "a.png"), "-m", "prenet_rain100l"), "not a loadable")


def test_symlinked_input_is_written_beside_the_link(photos: Path, tmp_path: Path) -> None:
    """Item 13."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (photos / "a.png").rename(elsewhere / "photo.png")
    (photos / "link.png").symlink_to(Path("..") / "elsewhere" / "photo.png")
    proc = run_cli("remove", str(photos / "link.png"))
    assert proc.returncode == 0, proc.stderr
    assert (photos / "link_derained.png").is_file() and not (photos / "link_derained.png").is_symlink()
    assert [p.name for p in elsewhere.iterdir()] == ["photo.png"]


@pytest.mark.parametrize("mask", [0o077, 0o002], ids=["077", "002"])
def test_outputs_follow_the_umask(photos: Path, mask: int) -> None:
    """Item 14 (the CLI subprocess inherits the umask), for images and model files alike."""
    from derain.archs import create_model
    from derain.weights import save_model

    before = os.umask(mask)
    try:
        proc = run_cli("remove", str(photos / "a.png"))
        save_model(photos / "m.safetensors", create_model("rain_unet_s"), "rain_unet_s")
    finally:
        os.umask(before)
    assert proc.returncode == 0, proc.stderr
    for output in ("a_derained.png", "m.safetensors", "m.json"):
        assert (photos / output).stat().st_mode & 0o777 == 0o666 & ~mask, output


def test_models_says_which_peers_run_here_and_commands_refuse_the_others_alike(photos: Path, tmp_path: Path,
                                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 30 item 7: `derain models` listed the peer models as if they could run, while with the
    repository alone `-m prenet_rain100l` fails. The listing now says per model whether it runs here
    and where a missing peer's file goes; each command refuses a missing one with the same line,
    before any work."""
    peers = tmp_path / "peers"
    (peers / "prenet").mkdir(parents=True)
    torch.save(create_model("prenet", stages=6).state_dict(), peers / "prenet" / "PReNet6_Rain100L.pth")
    monkeypatch.setenv("DERAIN_PEERS", str(peers))
    listing = run_cli("models")
    assert listing.returncode == 0, listing.stderr
    lines = {line.split()[0]: line for line in listing.stdout.splitlines() if line.startswith("  ")}
    assert "runs here" in lines["derain_supervised"] and "runs here" in lines["prenet_rain100l"]
    assert lines["prenet_rain100h"].split(None, 2)[2] == f"missing    put prenet/PReNet6_Rain100H.pth in {peers}"
    refusal = (f"derain: error: peer weights 'prenet_rain100h' not found at {peers / 'prenet' / 'PReNet6_Rain100H.pth'}"
               "; set DERAIN_PEERS to the folder holding prenet/PReNet6_Rain100H.pth\n")
    out = tmp_path / "out"
    commands = [["remove", str(photos), "-o", str(out)], ["eval", "-d", str(photos), "-o", str(out)]]
    commands += [["batch", str(photos), "-o", str(out)]] if importlib.util.find_spec("ray") else []
    commands += [["serve", "--port", "0"]] if importlib.util.find_spec("uvicorn") else []
    for args in commands:
        proc = run_cli(*args, "-m", "prenet_rain100h")
        assert (proc.returncode, proc.stderr) == (2, refusal), args
        assert not out.exists()


def test_ctrl_c_in_a_folder_run_leaves_only_finished_outputs(big_photo: Path, tmp_path: Path) -> None:
    """Issue 31: a folder with a core to spare (one network thread here) is a pipeline (the previous
    photo is written while this one is derained);
    Ctrl-C there finishes the write under way and starts nothing else: no temporary file is left,
    and every output present is whole."""
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a.png", "b.png", "c.png", "d.png"):
        (folder / name).write_bytes(big_photo.read_bytes())
    out = tmp_path / "out"
    out.mkdir()
    proc = start_until(["remove", str(folder), "-o", str(out)], lambda: bool(hidden(out)), env={"OMP_NUM_THREADS": "1"})
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=240)
    assert proc.returncode == 130 and stderr.splitlines()[-1] == "derain: aborted", stderr
    assert hidden(out) == [] and len(list(out.iterdir())) < 4
    for done in out.iterdir():
        assert read_picture(done).rgb.shape == (1000, 1000, 3)
