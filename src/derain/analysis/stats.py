"""Per-image statistics of a rainy photograph (docs/METHOD.md section 1).

Every statistic is computed on the *working image* (see `derain.analysis.sets`): a fixed-size
crop of the photo resampled to a common scale, so that pixel sizes (streak width, length, noise)
mean the same thing in every set. Intensities are in [0, 1]; lengths are working-scale pixels.

Rain layer: rain streaks are thin, bright and locally faint, so a self-guided filter (He et al.,
edge-preserving) keeps scene edges and smooths the streaks away; the residual `luma - guided(luma)` is
our rain layer. Orientation comes from the structure tensor of that residual; width and length
from the connected components of its bright part.

Angle convention: streak direction measured from the horizontal axis, counter-clockwise as seen
on screen (y up), in [0, 180): vertical rain is 90, rain leaning like "/" is below 90 and like
"\\" above 90.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

GUIDED_RADIUS = 4  # 9x9 window: wider than a streak (1-3 px at working scale)
GUIDED_EPS = 0.01  # (0.1)^2: faint streaks are smoothed, scene edges above ~0.2 contrast are kept
STREAK_THRESHOLD = 0.02  # residual above this is "bright structure" (about 5 grey levels)
MIN_COMPONENT = 5  # components smaller than this are specks, not streaks
MIN_ELONGATION = 2.0  # a streak is at least twice as long as wide
MAX_DEVIATION = 20.0  # degrees a streak may deviate from the dominant orientation
DERIVATIVE_SIGMA = 1.0  # structure-tensor derivative scale
TENSOR_SIGMA = 2.0  # structure-tensor integration scale
DARK_PATCH = 15  # dark-channel patch (He et al.)
ORIENTATION_BINS = 36  # 5-degree bins centred on 0, 5, ..., 175

# name -> what it measures (shown in the report)
STATISTICS: dict[str, str] = {
    "rain_energy": "RMS of the rain residual (luma minus its self-guided filtering)",
    "rain_sparsity": "Hoyer sparsity of the residual (0 dense, 1 a single pixel)",
    "rain_skewness": "skewness of the residual (bright streaks make it positive)",
    "rain_coverage": f"fraction of pixels whose residual exceeds {STREAK_THRESHOLD}",
    "rain_intensity": "mean residual over those pixels (how much brighter streaks are)",
    "streak_angle": "dominant orientation, degrees from horizontal (90 = vertical)",
    "orientation_concentration": "resultant length of the doubled orientation angles (1 = all parallel)",
    "streak_length": "median length of the streak-like bright components, px",
    "streak_width": "median width (area / length) of those components, px",
    "streak_density": "streak-like components per 10,000 px",
    "dark_channel": f"mean dark channel ({DARK_PATCH}x{DARK_PATCH} patch): veiling / airlight",
    "saturation": "mean HSV saturation (veiling washes colour out)",
    "contrast": "standard deviation of luma (RMS contrast)",
    "brightness": "mean luma",
    "noise_sigma": "noise standard deviation (robust Immerkaer estimate)",
    "blur": "Crete-Roffet blur, mean of both axes (0 sharp, 1 blurred)",
}
# The statistics that describe the rain layer itself; the others describe the whole picture
# (veil, colour, exposure, sensor), to which the scene contributes as much as the rain.
RAIN_LAYER = [k for k in STATISTICS if k.startswith(("rain_", "streak_", "orientation_"))]


def luma(rgb: np.ndarray) -> np.ndarray:
    """Rec. 601 luma of an (H, W, 3) image in [0, 1]."""
    return rgb @ np.array([0.299, 0.587, 0.114], dtype=rgb.dtype)


def guided_filter(guide: np.ndarray, src: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """He et al.'s guided filter with box windows of side 2 * radius + 1."""
    size = 2 * radius + 1

    def box(x: np.ndarray) -> np.ndarray:
        return ndimage.uniform_filter(x, size, mode="reflect")

    mean_i, mean_p = box(guide), box(src)
    cov = box(guide * src) - mean_i * mean_p
    var = box(guide * guide) - mean_i * mean_i
    a = cov / (var + eps)
    b = mean_p - a * mean_i
    return box(a) * guide + box(b)


def rain_residual(gray: np.ndarray) -> np.ndarray:
    """The rain layer estimate: what the edge-preserving smoothing removes."""
    gray = gray.astype(np.float64)
    return gray - guided_filter(gray, gray, GUIDED_RADIUS, GUIDED_EPS)


def orientation_field(residual: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel streak angle (degrees, convention above) and its weight (coherent energy)."""
    # Gaussian derivatives: Sobel's orientation is biased by up to 5 degrees on 1-px streaks.
    gx = ndimage.gaussian_filter(residual, DERIVATIVE_SIGMA, order=(0, 1))
    gy = ndimage.gaussian_filter(residual, DERIVATIVE_SIGMA, order=(1, 0))
    jxx = ndimage.gaussian_filter(gx * gx, TENSOR_SIGMA)
    jyy = ndimage.gaussian_filter(gy * gy, TENSOR_SIGMA)
    jxy = ndimage.gaussian_filter(gx * gy, TENSOR_SIGMA)
    # Dominant gradient direction in image coordinates (y down); streaks run across it, and
    # flipping y turns the image angle into the on-screen one.
    gradient = 0.5 * np.degrees(np.arctan2(2 * jxy, jxx - jyy))
    angle = np.mod(-(gradient + 90.0), 180.0)
    weight = np.sqrt((jxx - jyy) ** 2 + 4 * jxy**2)  # lambda1 - lambda2
    return angle, weight


def orientation_histogram(angle: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Weighted histogram of streak angles in 5-degree bins centred on 0, 5, ..., 175 (sums to 1)."""
    width = 180.0 / ORIENTATION_BINS
    index = np.round(angle / width).astype(int) % ORIENTATION_BINS
    hist = np.bincount(index.ravel(), weights=weight.ravel(), minlength=ORIENTATION_BINS)
    total = hist.sum()
    return hist / total if total > 0 else np.full(ORIENTATION_BINS, 1.0 / ORIENTATION_BINS)


def dominant_orientation(angle: np.ndarray, weight: np.ndarray) -> tuple[float, float]:
    """Weighted circular mean of the axial angles, and the resultant length in [0, 1]."""
    doubled = np.radians(2 * angle)
    total = weight.sum()
    if total <= 0:
        return 90.0, 0.0
    vec = np.array([(weight * np.cos(doubled)).sum(), (weight * np.sin(doubled)).sum()]) / total
    return float(np.mod(np.degrees(np.arctan2(vec[1], vec[0])) / 2, 180.0)), float(np.hypot(*vec))


def axial_difference(a: np.ndarray | float, b: np.ndarray | float) -> np.ndarray | float:
    """Smallest difference between two axial angles in degrees (0..90)."""
    return np.abs(np.mod(np.asarray(a) - b + 90.0, 180.0) - 90.0)


def streak_shape(mask: np.ndarray, dominant: float) -> tuple[float, float, float]:
    """Median length and width of the streak-like components of `mask`, and their density.

    Streak-like: a connected bright component of at least `MIN_COMPONENT` pixels, at least
    `MIN_ELONGATION` times longer than wide, running within `MAX_DEVIATION` degrees of the
    image's dominant orientation (rain is parallel; scene texture mostly is not). Its length is
    that of the segment with the same spread along its major axis (variance (L^2 - 1) / 12 for L
    pixels), its width area / length, both exact for a straight streak. Density is the count per
    10,000 pixels. All three are 0 when there is no such component.
    """
    labels, count = ndimage.label(mask, structure=np.ones((3, 3)))
    idx = np.arange(1, count + 1)
    area = ndimage.sum_labels(mask, labels, idx)
    big = area >= MIN_COMPONENT
    if not big.any():
        return 0.0, 0.0, 0.0
    ys, xs = np.indices(mask.shape)

    def mean(values: np.ndarray) -> np.ndarray:
        return ndimage.sum_labels(values, labels, idx)[big] / area[big]

    my, mx = mean(ys), mean(xs)
    cyy, cxx, cxy = mean(ys * ys) - my**2, mean(xs * xs) - mx**2, mean(xs * ys) - mx * my
    major = (cxx + cyy) / 2 + np.sqrt(((cxx - cyy) / 2) ** 2 + cxy**2)
    length = np.sqrt(12 * major + 1)
    width = area[big] / length
    angle = np.mod(-0.5 * np.degrees(np.arctan2(2 * cxy, cxx - cyy)), 180.0)  # y up, as above
    streak = (length >= MIN_ELONGATION * width) & (axial_difference(angle, dominant) <= MAX_DEVIATION)
    if not streak.any():
        return 0.0, 0.0, 0.0
    return float(np.median(length[streak])), float(np.median(width[streak])), float(streak.sum() * 1e4 / mask.size)


def dark_channel(rgb: np.ndarray) -> np.ndarray:
    """Min over colour channels and a square patch (He et al.): high where a veil lifts the blacks."""
    return ndimage.minimum_filter(rgb.min(axis=2), size=DARK_PATCH, mode="nearest")


def saturation(rgb: np.ndarray) -> np.ndarray:
    """HSV saturation per pixel."""
    top = rgb.max(axis=2)
    return np.where(top > 0, (top - rgb.min(axis=2)) / np.maximum(top, 1e-12), 0.0)


def noise_sigma(gray: np.ndarray) -> float:
    """Noise std from the Laplacian-difference mask (Immerkaer 1996), median-based.

    The mask cancels smooth image content; the median of its absolute response ignores the sparse
    edges and streaks that a mean would count as noise. The mask's gain on white noise is 6.
    """
    mask = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float64)
    response = ndimage.convolve(gray.astype(np.float64), mask, mode="reflect")[1:-1, 1:-1]
    return float(np.median(np.abs(response)) / 0.6745 / 6.0)


def blur_amount(gray: np.ndarray) -> float:
    """Crete-Roffet et al. (2007) no-reference blur: how little re-blurring changes the edges.

    Averaged over the two axes (the paper takes the maximum, which makes any picture of vertical
    streaks "blurred" along them).
    """
    gray = gray.astype(np.float64)
    scores = []
    for axis in (0, 1):
        reblurred = ndimage.uniform_filter1d(gray, 9, axis=axis, mode="reflect")
        d_orig = np.abs(np.diff(gray, axis=axis))
        d_blur = np.abs(np.diff(reblurred, axis=axis))
        s_orig = d_orig.sum()
        scores.append((s_orig - np.maximum(d_orig - d_blur, 0).sum()) / s_orig if s_orig > 0 else 1.0)
    return float(np.mean(scores))


def hoyer_sparsity(x: np.ndarray) -> float:
    """(sqrt(n) - L1 / L2) / (sqrt(n) - 1): 0 when all entries are equal, 1 for a single spike."""
    l2, root_n = np.sqrt((x**2).sum()), np.sqrt(x.size)
    return float((root_n - np.abs(x).sum() / l2) / (root_n - 1)) if l2 > 0 else 0.0


def skewness(x: np.ndarray) -> float:
    """Third standardised moment (0 for a constant)."""
    std = x.std()
    return float(((x - x.mean()) ** 3).mean() / std**3) if std > 0 else 0.0


def image_statistics(rgb: np.ndarray) -> tuple[dict[str, float], np.ndarray]:
    """All scalar statistics of `STATISTICS` and the orientation histogram of one working image."""
    rgb = np.clip(np.asarray(rgb, dtype=np.float64), 0.0, 1.0)
    gray = luma(rgb)
    res = rain_residual(gray)
    bright = res > STREAK_THRESHOLD
    angle, weight = orientation_field(res)
    dominant, concentration = dominant_orientation(angle, weight)
    length, width, density = streak_shape(bright, dominant)
    stats = {
        "rain_energy": float(np.sqrt((res**2).mean())),
        "rain_sparsity": hoyer_sparsity(res),
        "rain_skewness": skewness(res),
        "rain_coverage": float(bright.mean()),
        "rain_intensity": float(res[bright].mean()) if bright.any() else 0.0,
        "streak_angle": dominant,
        "orientation_concentration": concentration,
        "streak_length": length,
        "streak_width": width,
        "streak_density": density,
        "dark_channel": float(dark_channel(rgb).mean()),
        "saturation": float(saturation(rgb).mean()),
        "contrast": float(gray.std()),
        "brightness": float(gray.mean()),
        "noise_sigma": noise_sigma(gray),
        "blur": blur_amount(gray),
    }
    return stats, orientation_histogram(angle, weight)
