"""File size of derained JPEGs against their inputs (issue 30: a photo's output at most 1.3x its size).

    python benchmarks/bench_file_size.py ../shared/data/real_rainy/sirr147     # a folder of JPEGs
    python benchmarks/bench_file_size.py photos/ --jpeg-quality 95              # the old fixed quality

Derains every JPEG of the folder with the default model, writes each output as `derain remove`
does (the input's estimated quality and subsampling unless --jpeg-quality says otherwise) into a
temporary folder, and prints the distribution of output/input sizes and the input qualities.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import numpy as np

from derain.inference import load_model
from derain.io import Encoding, read_picture, write_picture


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--jpeg-quality", type=int, default=None, help="as `derain remove --jpeg-quality`")
    args = parser.parse_args()
    files = sorted(p for p in args.folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg"))
    if not files:
        raise SystemExit(f"no JPEG in {args.folder}")
    model = load_model()
    ratios, qualities = [], []
    with tempfile.TemporaryDirectory() as out:
        for src in files:
            pic = read_picture(src)
            qualities.append(pic.meta.jpeg_quality)
            pic.rgb = model.remove(pic.rgb)
            dst = Path(out) / src.name
            write_picture(dst, pic, encoding=Encoding(quality=args.jpeg_quality))
            ratios.append(dst.stat().st_size / src.stat().st_size)
    r = np.array(ratios)
    print(f"{len(r)} JPEGs of {args.folder}, written at "
          f"{'their own quality' if args.jpeg_quality is None else f'quality {args.jpeg_quality}'}")
    print("| output/input size | median | mean | 90th percentile | max | over 1.3x |")
    print("|---|---:|---:|---:|---:|---:|")
    print(f"| | {np.median(r):.2f} | {r.mean():.2f} | {np.percentile(r, 90):.2f} | {r.max():.2f} | {(r > 1.3).sum()} |")
    print(f"input quality (estimated): median {statistics.median(qualities)}, {min(qualities)}-{max(qualities)}")


if __name__ == "__main__":
    main()
