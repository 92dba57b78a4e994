"""Independent check of the evaluation harness: PReNet (official Rain100L weights) on rain100l_test.

Deliberately shares nothing with `derain.evaluation` or `derain.metrics`: images are read with
Pillow, the Y channel is computed here from the MATLAB formula and rounded like MATLAB's uint8
`rgb2ycbcr`, and PSNR/SSIM come from scikit-image. Only the network class is the project's (it
must be: it is what loads the official weights). Two quantisations of the network output are
reported: rounding to the nearest 8-bit value (the harness's convention, what a saved PNG holds)
and truncation (`np.uint8(255 * out)`, the authors' test script), which costs about 0.2 dB.

    python experiments/reference_prenet.py [--data-root ../shared/data] [--peers ../shared/peers]

`derain eval -m prenet_rain100l -d rain100l_test` must agree with this within 0.1 dB.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from derain.archs.prenet import PReNet


def y_channel(rgb8: np.ndarray) -> np.ndarray:
    """MATLAB rgb2ycbcr on uint8 input: Y in [16, 235], rounded to uint8."""
    rgb = rgb8.astype(np.float64) / 255.0
    y = 16.0 + 65.481 * rgb[..., 0] + 128.553 * rgb[..., 1] + 24.966 * rgb[..., 2]
    return np.round(y).astype(np.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", default="../shared/data")
    parser.add_argument("--peers", default="../shared/peers")
    parser.add_argument("--limit", type=int)
    args = parser.parse_args()
    net = PReNet(stages=6)
    net.load_state_dict(torch.load(Path(args.peers) / "prenet/PReNet6_Rain100L.pth", map_location="cpu",
                                   weights_only=True))
    net.eval()
    folder = Path(args.data_root) / "rain100l_test"
    names = sorted((folder / "rainy").iterdir(), key=lambda p: p.name)[: args.limit]
    scores: dict[str, list[float]] = {"round": [], "trunc": []}
    ssims: dict[str, list[float]] = {"round": [], "trunc": []}
    inputs = []
    for path in names:
        rainy = np.asarray(Image.open(path).convert("RGB"))
        clean = np.asarray(Image.open(folder / "clean" / path.name).convert("RGB"))
        x = torch.from_numpy(rainy.astype(np.float32) / 255.0).permute(2, 0, 1)[None]
        with torch.no_grad():
            out = net(x).clamp(0, 1)[0].permute(1, 2, 0).numpy()
        yc = y_channel(clean)
        for mode, out8 in (("round", np.uint8(np.clip(np.round(255 * out), 0, 255))), ("trunc", np.uint8(255 * out))):
            yo = y_channel(out8)
            scores[mode].append(peak_signal_noise_ratio(yc, yo, data_range=255))
            ssims[mode].append(structural_similarity(yc, yo, data_range=255, gaussian_weights=True, sigma=1.5,
                                                     use_sample_covariance=False))
        inputs.append(peak_signal_noise_ratio(yc, y_channel(rainy), data_range=255))
    print(f"images={len(names)} input_psnr_y={np.mean(inputs):.4f}")
    for mode in scores:
        print(f"quantisation={mode} psnr_y={np.mean(scores[mode]):.4f} ssim_y={np.mean(ssims[mode]):.4f}")


if __name__ == "__main__":
    main()
