"""Video (extra derain[video]): `derain remove` on clips, `derain synth-video`, bad inputs, the
temporal filter. The clips are rendered by the tests, tiny (64x48), so the file runs in well
under a minute; each CLI run is a subprocess."""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from derain.errors import DerainError
from derain.io import MAX_PIXELS, Picture, write_picture
from derain.synth.clip import write_clip
from derain.video import TemporalFilter, VideoSettings, flicker, read_frames, write_video

from conftest import add_streaks, default_sigint, run_cli, scene

av = pytest.importorskip("av")

PHOTO = scene(96, 128)  # the rain-free "photo" the clips are cut from


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A panning mp4 with sound and a still mkv, each with its rain-free twin, made by `derain synth-video`."""
    root = tmp_path_factory.mktemp("clips")
    write_picture(root / "photo.png", Picture(PHOTO))
    common = ["--clean", str(root / "photo.png"), "--size", "64x48", "--fps", "12", "--preset", "heavy"]
    for name, extra in (("pan", ["--frames", "8", "--audio"]),
                        ("still", ["--frames", "12", "--motion", "static", "--format", "mkv"])):
        proc = run_cli("synth-video", str(root / name), *common, *extra)
        assert proc.returncode == 0, proc.stderr
    return {"pan": root / "pan" / "rainy.mp4", "pan_clean": root / "pan" / "clean.mp4",
            "still": root / "still" / "rainy.mkv", "still_clean": root / "still" / "clean.mkv"}


def probe(path: Path) -> dict:
    """What the tests check of a video: frames, size, rate, codecs and the audio packets' bytes."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        audio = [bytes(p) for p in container.demux(audio=0) if p.dts is not None] if container.streams.audio else []
        info = {"size": (video.codec_context.width, video.codec_context.height), "rate": video.average_rate,
                "codec": video.codec_context.name, "audio": audio}
    return {**info, "frames": len(list(read_frames(path)))}


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("derain: error:")]


def test_synth_video_renders_a_coherent_rainy_clip_and_its_twin(clips: dict[str, Path]) -> None:
    rainy, clean = probe(clips["pan"]), probe(clips["pan_clean"])
    assert rainy["frames"] == clean["frames"] == 8 and rainy["size"] == (64, 48) and rainy["rate"] == 12
    assert rainy["audio"] and rainy["codec"] == "h264"
    record = json.loads((clips["pan"].parent / "clip.json").read_text())
    assert record["frames"] == 8 and record["motion"] == "pan" and record["params"]["layers"]
    still, still_clean = list(read_frames(clips["still"])), list(read_frames(clips["still_clean"]))
    assert flicker(still_clean) < 1.0 < flicker(still)  # the scene stands still, the rain does not
    assert np.mean([np.abs(r.astype(float) - c).mean() for r, c in zip(still, still_clean)]) > 2.0


def test_synth_video_refuses_a_size_over_the_pixel_limit_and_records_w_x_h(clips: dict[str, Path],
                                                                          tmp_path: Path) -> None:
    """Issue 30 item 5: --size 200000x200000 was accepted and ended in "internal error: MemoryError";
    it is a usage error before any work, as an image that size is refused. clip.json gave the size as
    [height, width] while --size takes WxH: it follows the option now."""
    assert json.loads((clips["pan"].parent / "clip.json").read_text())["size"] == [64, 48]
    photo = clips["pan"].parent.parent / "photo.png"
    proc = run_cli("synth-video", str(tmp_path / "out"), "--clean", str(photo), "--size", "200000x200000")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith("derain: error: --size 200000x200000:") and f"{MAX_PIXELS:,}" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_synth_video_on_a_full_disk_publishes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 30 item 6: a disk that filled up at clip.json ended in "internal error: OSError" and
    left the two clips without their record. The three files appear together or not at all, and
    the error is one line."""
    write_picture(tmp_path / "photo.png", Picture(PHOTO))

    def full_disk(self: Path, *args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(Path, "write_text", full_disk)  # clip.json is text; the clips are written by FFmpeg
    with pytest.raises(DerainError, match=r"clip\.json: cannot write \(No space left on device\)$"):
        write_clip(tmp_path / "out", tmp_path / "photo.png", (64, 48), frames=4, fps=12)
    assert list((tmp_path / "out").iterdir()) == []


def test_frames_over_the_image_pixel_limit_are_refused_before_decoding(tmp_path: Path) -> None:
    """Issue 30 item 2: an MJPEG AVI of 10240x10240 frames was decoded and derained, where an image
    that size is refused (derain.io.MAX_PIXELS). The stream's size is checked before any frame is."""
    jpeg = io.BytesIO()
    Image.new("RGB", (10240, 10240), (90, 120, 150)).save(jpeg, "JPEG", quality=50)
    path = tmp_path / "in" / "huge.avi"
    path.parent.mkdir()
    with av.open(str(path), "w", format="avi") as container:
        stream = container.add_stream("mjpeg", rate=1)
        stream.width = stream.height = 10240
        stream.pix_fmt = "yuvj420p"
        for i in range(2):
            packet = av.Packet(jpeg.getvalue())
            packet.stream, packet.pts, packet.dts, packet.time_base = stream, i, i, Fraction(1)
            container.mux(packet)
    with pytest.raises(DerainError, match="10240x10240 pixels exceeds the limit"):
        next(read_frames(path))
    proc = run_cli("remove", str(path), "-o", str(tmp_path / "out"))
    assert proc.returncode == 1 and error_lines(proc.stderr) == [
        f"derain: error: {path}: 10240x10240 pixels exceeds the limit of {MAX_PIXELS:,} (decompression bomb?)"]
    assert "Traceback" not in proc.stderr and not (tmp_path / "out" / "huge.avi").exists()


def test_remove_a_mixed_batch_then_onnx_with_the_temporal_filter(clips: dict[str, Path], tmp_path: Path) -> None:
    """Images and videos in one run (torch); then the still clip on onnx with --temporal and x265."""
    photo = tmp_path / "photo.png"
    write_picture(photo, Picture(add_streaks(scene(48, 64))))
    inputs = [clips["pan"], clips["still"], photo]
    before = [digest(p) for p in inputs]
    out = tmp_path / "out"
    proc = run_cli("remove", *map(str, inputs), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "derained 3 of 3 files" in proc.stderr
    assert [digest(p) for p in inputs] == before  # inputs untouched
    assert (out / "photo.png").is_file()
    rainy, derained = probe(clips["pan"]), probe(out / "rainy.mp4")
    assert (derained["frames"], derained["size"], derained["rate"]) == (8, (64, 48), 12)
    assert derained["audio"] == rainy["audio"]  # sound copied packet for packet
    assert probe(out / "rainy.mkv")["frames"] == 12

    filtered = tmp_path / "filtered"
    proc = run_cli("remove", str(clips["still"]), "-o", str(filtered), "--backend", "onnx", "--temporal", "4",
                   "--video-codec", "libx265", "--crf", "20")
    assert proc.returncode == 0, proc.stderr
    assert "12 frames" in proc.stderr
    info = probe(filtered / "rainy.mkv")
    assert info["codec"] == "hevc" and info["frames"] == 12
    plain = flicker(read_frames(out / "rainy.mkv"))
    assert flicker(read_frames(filtered / "rainy.mkv")) < 0.8 * plain < flicker(read_frames(clips["still"]))


def write_audio_only(path: Path) -> None:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=48000, layout="mono")
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 4800), np.float32), format="flt", layout="mono")
        frame.sample_rate, frame.pts = 48000, 0
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def write_unknown_codec(path: Path) -> None:
    """An AVI whose video track names a FourCC no decoder knows."""
    with av.open(str(path), "w", format="avi") as container:
        stream = container.add_stream("mpeg4", rate=12)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for _ in range(3):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="rgb24")))
        container.mux(stream.encode(None))
    path.write_bytes(path.read_bytes().replace(b"FMP4", b"QQQQ"))


def test_bad_videos_are_one_line_each_and_leave_nothing(clips: dict[str, Path], tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    data = clips["still"].read_bytes()
    (bad / "truncated.mkv").write_bytes(data[: len(data) // 2])
    (bad / "garbage.mp4").write_bytes(os.urandom(4000))
    (bad / "empty.mov").write_bytes(b"")
    write_audio_only(bad / "sound.mp4")
    write_unknown_codec(bad / "unknown.avi")
    before = {p.name: digest(p) for p in bad.iterdir()}
    out = tmp_path / "out"
    proc = run_cli("remove", str(bad), "-o", str(out))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    lines = error_lines(proc.stderr)
    assert len(lines) == 5, proc.stderr
    expected = {"truncated.mkv": "truncated or corrupt video (decoded", "garbage.mp4": "not a readable video",
                "empty.mov": "not a readable video", "sound.mp4": "contains no video stream",
                "unknown.avi": "unsupported video codec"}
    for name, message in expected.items():
        assert any(name in line and message in line for line in lines), (name, proc.stderr)
    assert not out.exists() or list(out.iterdir()) == []  # no partial file, no temporary file
    assert {p.name: digest(p) for p in bad.iterdir()} == before


def test_without_pyav_a_video_is_a_usage_error(clips: dict[str, Path], tmp_path: Path) -> None:
    blocker = tmp_path / "blocker" / "av"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('PyAV hidden by the test')\n")
    env = {**os.environ, "PYTHONPATH": str(blocker.parent)}
    proc = subprocess.run([sys.executable, "-m", "derain", "remove", str(clips["pan"]), "-o", str(tmp_path / "out")],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "pip install 'derain[video]'" in proc.stderr
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """400 frames: long enough to be stopped in the middle."""
    path = tmp_path_factory.mktemp("long") / "long.mp4"
    frames = (np.round(np.roll(add_streaks(PHOTO, seed=i), i, axis=1)[:48, :64] * 255).astype(np.uint8)
              for i in range(400))
    write_video(path, frames, 25)
    return path


@pytest.mark.parametrize("sig, code, line", [(signal.SIGTERM, 143, "derain: terminated"),
                                             (signal.SIGINT, 130, "derain: aborted")])
def test_a_stopped_run_leaves_no_output(long_clip: Path, tmp_path: Path, sig: int, code: int, line: str) -> None:
    out = tmp_path / "out"
    out.mkdir()
    before = digest(long_clip)
    proc = subprocess.Popen([sys.executable, "-m", "derain", "remove", str(long_clip), "-o", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)
    deadline = time.monotonic() + 240
    while not any(out.iterdir()):  # the temporary file: the encoder is running
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.002)
    time.sleep(0.2)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == code and stderr.rstrip().splitlines()[-1].endswith(line), stderr
    assert "Traceback" not in stderr
    assert list(out.iterdir()) == [] and digest(long_clip) == before


def test_temporal_filter_averages_still_parts_and_passes_motion() -> None:
    rng = np.random.default_rng(0)
    smooth = TemporalFilter(4, 32)
    raw, filtered = [], []
    for i in range(8):
        frame = np.full((32, 48, 3), 0.5, np.float32) + rng.normal(0, 0.02, (32, 48, 3)).astype(np.float32)
        frame[:, 3 * i:3 * i + 8] = 1.0  # a bright bar moving right, 3 px a frame
        out = smooth(frame)
        assert np.allclose(out[:, 3 * i:3 * i + 8], 1.0, atol=0.02)  # the bar is not smeared...
        if i:
            assert np.allclose(out[:, 3 * i - 3:3 * i], 0.5, atol=0.1)  # ...nor does it leave a trail
        raw.append(frame[:, 36:])  # a part the bar never comes near: leftover "rain" only
        filtered.append(out[:, 36:].copy())
    assert flicker(filtered[3:]) < 0.6 * flicker(raw[3:])
    with pytest.raises(DerainError):
        TemporalFilter(0, 32)


def test_video_settings() -> None:
    settings = VideoSettings()
    assert settings.codec_for(Path("a.webm")) == "libvpx-vp9" and settings.codec_for(Path("a.MOV")) == "libx264"
    assert settings.encoder_options("libx264") == {"crf": "18", "preset": "medium"}
    assert VideoSettings(crf=30).encoder_options("libvpx-vp9")["crf"] == "30"
    with pytest.raises(DerainError, match="unsupported --video-codec"):
        VideoSettings(codec="gif").check()
