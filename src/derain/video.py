"""Video deraining on PyAV (extra `derain[video]`): decode, derain, re-encode, one frame at a time.

Frames are streamed: one decoded frame, the temporal filter's running estimate and the encoder's
look-ahead are all that is held, so memory does not grow with the length of the clip. Audio
packets are remuxed as they are (never decoded), so the sound is bit-identical. The output is
written to a temporary sibling and published at the end (`atomic.atomic_write`): a corrupt input,
an error or an interrupt leaves no partial file under the final name. Frames larger than an image
may be (`io.MAX_PIXELS`) are refused from the stream's header, before any is decoded.

Output timing is constant-rate at the input's average frame rate (frame `i` at `i / rate`, from
the first frame's time): container timestamps cannot always be trusted (AVI with B-frames stores
none), and for the constant-rate clips cameras make this equals the input's timing.

PyAV is imported only when a video is actually processed, so `derain` works without it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
from scipy.ndimage import uniform_filter

from derain.atomic import atomic_write, exists_error
from derain.errors import DerainError
from derain.io import check_size

VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv", ".avi", ".webm")
INSTALL_HINT = "video needs PyAV, the optional extra derain[video]: pip install 'derain[video]'"
DEFAULT_CRF = {"libx264": 18, "libx265": 20, "libvpx-vp9": 31}  # visually lossless-ish for each encoder
X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")
DEFAULT_THRESHOLD = 32  # 8-bit levels of change at which the temporal filter stops averaging (bench_video.py)
MOTION_WINDOW = 7  # px: the box over which change is averaged before it is compared with the threshold
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)
Progress = Callable[[int, int | None], None]  # (frames written, frames the input announces or None)


def is_video_name(path: Path) -> bool:
    """Whether `path`'s extension is a container this module reads and writes."""
    return path.suffix.lower() in VIDEO_EXTENSIONS


def require_av() -> Any:
    """The `av` module, or a one-line `DerainError` saying how to install it."""
    try:
        import av
    except ImportError:
        raise DerainError(INSTALL_HINT) from None
    return av


@dataclass(frozen=True)
class VideoSettings:
    """How a derained video is encoded and filtered (the `derain remove` video options)."""

    codec: str = "auto"  # auto: libvpx-vp9 for .webm, libx264 otherwise
    crf: int | None = None  # None: DEFAULT_CRF of the codec
    preset: str = "medium"  # x264/x265 speed preset
    temporal: int = 1  # K: new frames weigh 1/K where the scene is still; 1 = off
    threshold: float = DEFAULT_THRESHOLD  # 8-bit levels of change at which a pixel counts as moving

    def codec_for(self, target: Path) -> str:
        """The encoder for `target`: the one asked for, or the usual one for its container."""
        if self.codec != "auto":
            return self.codec
        return "libvpx-vp9" if target.suffix.lower() == ".webm" else "libx264"

    def encoder_options(self, codec: str) -> dict[str, str]:
        """Constant-quality options of `codec` (bitrate left free so quality, not size, is fixed)."""
        crf = str(self.crf if self.crf is not None else DEFAULT_CRF.get(codec, 23))
        if codec == "libvpx-vp9":
            return {"crf": crf, "b:v": "0", "row-mt": "1"}
        if codec == "libx265":
            return {"crf": crf, "preset": self.preset, "x265-params": "log-level=error"}  # x265 logs to stderr itself
        return {"crf": crf, "preset": self.preset}

    def check(self) -> None:
        """Refuse an encoder this PyAV build lacks, before any model is loaded."""
        av = require_av()
        if self.codec != "auto" and self.codec not in DEFAULT_CRF:
            raise DerainError(f"unsupported --video-codec {self.codec!r}; use auto, {', '.join(DEFAULT_CRF)}")
        wanted = ["libx264", "libvpx-vp9"] if self.codec == "auto" else [self.codec]
        missing = [codec for codec in wanted if codec not in av.codecs_available]
        if missing:
            raise DerainError(f"this PyAV build has no {missing[0]} encoder")


class TemporalFilter:
    """A motion-aware recursive average of derained frames.

    Leftover rain changes every frame while a still scene does not, so averaging consecutive
    outputs removes flicker; averaging moving parts would smear them. The weight of the new frame
    is 1/K where it agrees with the running estimate and rises linearly to 1 (no averaging) as
    their difference reaches `threshold`. The difference is the signed change of luma averaged
    over a `MOTION_WINDOW` box: thin leftover streaks and noise are diluted by it, while a moving
    edge or surface still changes the whole box.
    """

    def __init__(self, strength: int, threshold: float) -> None:
        if strength < 1 or threshold <= 0:
            raise DerainError(f"--temporal must be >= 1 and --temporal-threshold > 0, got {strength}, {threshold}")
        self.floor = 1.0 / strength
        self.threshold = threshold / 255.0
        self.state: np.ndarray | None = None

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        """Filter one float RGB frame (H, W, 3) in [0, 1]; returns the filtered frame (a view of the state)."""
        if self.state is None or self.floor == 1.0:
            self.state = frame.astype(np.float32, copy=True)
            return self.state
        change = frame - self.state
        moving = np.abs(uniform_filter(change @ _LUMA, size=MOTION_WINDOW, mode="nearest")) / self.threshold
        weight = self.floor + (1.0 - self.floor) * np.minimum(moving, 1.0)
        self.state += weight[..., None] * change
        return self.state


def flicker(frames: Iterable[np.ndarray]) -> float:
    """Mean absolute difference between consecutive frames, in 8-bit levels (0 for a still image)."""
    total, pairs, last = 0.0, 0, None
    for frame in frames:
        cur = np.asarray(frame, np.float32)
        if last is not None:
            total += float(np.abs(cur - last).mean())
            pairs += 1
        last = cur
    return total / pairs if pairs else 0.0


def read_frames(path: str | os.PathLike[str]) -> Iterator[np.ndarray]:
    """The frames of a video as 8-bit RGB arrays (H, W, 3), decoded one at a time."""
    av = require_av()
    with _opened(av, Path(path)) as container:
        stream = _video_stream(container, Path(path))
        for frame in _decoded(av, container, stream, [], Path(path)):
            yield _to_rgb(frame)


def _opened(av: Any, path: Path) -> Any:
    try:
        return av.open(str(path))
    except av.FFmpegError as exc:
        raise DerainError(f"{path}: not a readable video ({_reason(exc)})") from exc


def _reason(exc: Exception) -> str:
    return getattr(exc, "strerror", None) or str(exc)


def _video_stream(container: Any, path: Path) -> Any:
    if not container.streams.video:
        raise DerainError(f"{path}: contains no video stream")
    stream = container.streams.video[0]
    if stream.codec_context is None:
        raise DerainError(f"{path}: unsupported video codec (this PyAV build has no decoder for it)")
    width, height = stream.codec_context.width, stream.codec_context.height
    if width and height:  # the container's header says; 0: known only from the frames, see `_decoded`
        check_size(width, height, path)  # the image limit, before a frame is decoded
    stream.thread_type = "AUTO"
    return stream


def _decoded(av: Any, container: Any, video: Any, copied: list[Any], path: Path,
             remux: Callable[[Any], None] | None = None) -> Iterator[Any]:
    """Decoded frames of `video` in order; packets of the `copied` streams go to `remux`.

    Any demuxing or decoding error ends the run: a derained copy silently missing frames is worse
    than none. Frames over the image pixel limit are refused as images are.
    """
    packets = container.demux(video, *copied)
    while True:
        try:
            packet = next(packets, None)
            frames = video.decode(packet) if packet is not None and packet.stream is video else None
        except av.FFmpegError as exc:
            raise DerainError(f"{path}: corrupt video ({_reason(exc)})") from exc
        if packet is None:
            return
        if frames is not None:
            for frame in frames:
                check_size(frame.width, frame.height, path)  # a stream may change its size midway
                yield frame
        elif packet.dts is not None and remux:  # dts None: a demuxer's flush packet, nothing to copy
            remux(packet)


def _to_rgb(frame: Any) -> np.ndarray:
    return frame.to_ndarray(format="rgb24", src_color_range=frame.color_range)


def _frame_rate(video: Any, path: Path) -> Fraction:
    rate = video.average_rate or video.guessed_rate or video.base_rate
    if not rate:
        raise DerainError(f"{path}: the video stream has no frame rate")
    return Fraction(rate)


def _expected_frames(video: Any, rate: Fraction) -> int | None:
    """How many frames the container announces: its index, else the stream's duration (Matroska
    keeps it in a DURATION tag); None when it says nothing, so truncation cannot be told."""
    if video.frames:
        return int(video.frames)
    if video.duration and video.time_base:
        return round(video.duration * video.time_base * rate)
    tag = video.metadata.get("DURATION", "")  # HH:MM:SS.nnnnnnnnn
    try:
        hours, minutes, seconds = tag.split(":")
        return round((int(hours) * 3600 + int(minutes) * 60 + Fraction(seconds)) * rate)
    except ValueError:
        return None


def derain_video(src: str | os.PathLike[str], dst: str | os.PathLike[str],
                 derain: Callable[[np.ndarray], np.ndarray], settings: VideoSettings = VideoSettings(),
                 overwrite: bool = False, progress: Progress | None = None) -> int:
    """Derain every frame of `src` into `dst` (container from its extension); returns the frame count.

    `derain` maps a float RGB frame (H, W, 3) in [0, 1] to its derained frame (e.g.
    `Derainer.remove`); `progress(done, announced)` is called after every frame, with the frame
    count the container announces (None if it does not). Audio streams are copied packet for packet.
    """
    av = require_av()
    src, dst = Path(src), Path(dst)
    if dst.exists() and not overwrite:
        raise exists_error(dst)
    with _opened(av, src) as container:
        video = _video_stream(container, src)
        written = 0

        def encode(tmp: Path) -> None:
            nonlocal written
            written = _transcode(av, container, video, tmp, dst, derain, settings, src, progress)

        try:
            dst.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(dst, encode, suffix=dst.suffix, overwrite=overwrite)
        except av.FFmpegError as exc:  # reading errors are mapped where they happen: this is the output
            raise DerainError(f"{dst}: cannot write this video ({_reason(exc)})") from exc
        except OSError as exc:
            raise DerainError(f"{dst}: cannot write ({exc.strerror or exc})") from exc
    return written


def _transcode(av: Any, container: Any, video: Any, tmp: Path, dst: Path, derain: Callable[[np.ndarray], np.ndarray],
               settings: VideoSettings, src: Path, progress: Progress | None) -> int:
    """Write the derained video to `tmp`; the truncation check runs before it can be published."""
    rate = _frame_rate(video, src)
    expected = _expected_frames(video, rate)
    copied = list(container.streams.audio)
    smooth = TemporalFilter(settings.temporal, settings.threshold)
    with av.open(str(tmp), "w") as out:
        stream = _add_video_stream(out, settings, dst, video.codec_context.width, video.codec_context.height, rate)
        colorspace = _copy_colour_tags(video.codec_context, stream.codec_context)
        targets = {s: out.add_stream_from_template(s) for s in copied}

        def remux(packet: Any) -> None:
            packet.stream = targets[packet.stream]
            out.mux(packet)

        count, start = 0, 0
        for frame in _decoded(av, container, video, copied, src, remux):
            if count == 0:
                start = round((frame.time or 0.0) * rate)
            rgb = _to_rgb(frame).astype(np.float32) / 255.0
            try:
                clean = smooth(derain(rgb))
            except DerainError as exc:  # the engine does not know the file's name
                raise DerainError(f"{src}: frame {count}: {exc}") from exc
            _encode_frame(av, out, stream, to_uint8(clean), start + count, colorspace)
            count += 1
            if progress:
                progress(count, expected)
        out.mux(stream.encode(None))
    if count == 0:
        raise DerainError(f"{src}: the video stream has no decodable frame")
    if expected and count < expected - 1:  # one frame of slack for a duration rounded to frames
        raise DerainError(f"{src}: truncated or corrupt video (decoded {count} of the {expected} frames it announces)")
    return count


def to_uint8(frame: np.ndarray) -> np.ndarray:
    """A float frame in [0, 1] as 8-bit levels, rounded."""
    return np.clip(np.round(frame * 255.0), 0, 255).astype(np.uint8)


def _add_video_stream(out: Any, settings: VideoSettings, target: Path, width: int, height: int, rate: Fraction) -> Any:
    """The encoder stream of `target`: 4:2:0, or 4:4:4 when a side is odd (4:2:0 needs even sizes)."""
    codec = settings.codec_for(target)
    try:
        stream = out.add_stream(codec, rate=rate, options=settings.encoder_options(codec))
    except ValueError as exc:  # e.g. "'webm' format does not support 'libx264' codec"
        raise DerainError(f"{target}: {exc}; choose another --video-codec or container") from exc
    stream.width, stream.height = width, height
    stream.pix_fmt = "yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p"
    stream.codec_context.time_base = 1 / rate  # frame i has pts i
    return stream


def _encode_frame(av: Any, out: Any, stream: Any, pixels: np.ndarray, index: int, colorspace: Any = None) -> None:
    """Encode 8-bit RGB `pixels` as frame number `index` of a constant-rate stream, limited range."""
    frame = av.VideoFrame.from_ndarray(pixels, format="rgb24").reformat(
        format=stream.pix_fmt, dst_colorspace=colorspace, dst_color_range="MPEG")
    frame.pts, frame.time_base = index, stream.codec_context.time_base
    out.mux(stream.encode(frame))


def encode_video(tmp: Path, target: Path, frames: Iterable[np.ndarray], rate: Fraction | int,
                 settings: VideoSettings = VideoSettings(), tone: float = 0.0) -> int:
    """Encode 8-bit RGB frames (H, W, 3) into `tmp`, as the video `target` names (container and
    codec from its extension, which `tmp` must share), at `rate` frames per second.

    `tone` (Hz) adds a sine as a sound track (AAC, or Opus in WebM), so that clips made for tests
    carry audio to copy. Returns the number of frames; an FFmpeg error is one line naming `target`.
    """
    av = require_av()
    rate, count = Fraction(rate), 0
    try:
        with av.open(str(tmp), "w") as out:
            stream = sound = None
            for count, pixels in enumerate(frames, 1):
                if stream is None:
                    stream = _add_video_stream(out, settings, target, pixels.shape[1], pixels.shape[0], rate)
                    sound = _add_tone(out, target) if tone else None
                _encode_frame(av, out, stream, pixels, count - 1)
                if sound:
                    _encode_tone(av, out, sound, tone, round((count - 1) / rate * sound.rate),
                                 round(count / rate * sound.rate))
            if stream is None:
                raise DerainError(f"{target}: no frames to write")
            out.mux(stream.encode(None))
            if sound:
                out.mux(sound.encode(None))
    except av.FFmpegError as exc:
        raise DerainError(f"{target}: cannot write this video ({_reason(exc)})") from exc
    return count


def write_video(path: str | os.PathLike[str], frames: Iterable[np.ndarray], rate: Fraction | int,
                settings: VideoSettings = VideoSettings(), tone: float = 0.0, overwrite: bool = False) -> int:
    """`encode_video` into `path`, atomically; returns the number of frames."""
    require_av()
    path = Path(path)
    if path.exists() and not overwrite:
        raise exists_error(path)
    count = 0

    def encode(tmp: Path) -> None:
        nonlocal count
        count = encode_video(tmp, path, frames, rate, settings, tone)

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, encode, suffix=path.suffix, overwrite=overwrite)
    except OSError as exc:
        raise DerainError(f"{path}: cannot write this video ({_reason(exc)})") from exc
    return count


def _add_tone(out: Any, path: Path) -> Any:
    return out.add_stream("libopus" if path.suffix.lower() == ".webm" else "aac", rate=48000, layout="mono")


def _encode_tone(av: Any, out: Any, stream: Any, hz: float, start: int, end: int) -> None:
    """Encode samples `start` to `end` of the sine (called per video frame, so the streams interleave)."""
    t = np.arange(start, end) / stream.rate
    frame = av.AudioFrame.from_ndarray((0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32)[None], format="flt",
                                       layout="mono")
    frame.sample_rate, frame.pts, frame.time_base = stream.rate, start, Fraction(1, stream.rate)
    out.mux(stream.encode(frame))


def _copy_colour_tags(src: Any, dst: Any) -> Any:
    """Tag the output like the input (primaries, transfer, matrix); the matrix to convert RGB with.

    The range is always limited ("MPEG"), what yuv420p players assume; a full-range input
    (yuvj420p from some phones) is converted, not mislabelled.
    """
    from av.video.reformatter import Colorspace

    dst.color_primaries, dst.color_trc = src.color_primaries, src.color_trc
    dst.colorspace, dst.color_range = src.colorspace, 1  # 1: MPEG (limited) range
    try:
        return Colorspace(src.colorspace)
    except ValueError:  # unspecified or not one swscale converts: its default (BT.601)
        return None
