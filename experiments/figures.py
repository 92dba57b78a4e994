"""The pictures of docs/RESULTS.md and the README, from real rainy photos of udgnet43.

    python experiments/figures.py

- docs/figures/real_grid.jpg: rows are udgnet43 photos, columns the rainy input, the four official
  PReNet models and the shipped models: the supervised student, the task-transfer student and the
  supervised student refined to remove streaks only (issue 28).
- docs/figures/before_after.jpg: one photo, rainy input beside the default model's output.

The photos are spread evenly over the set in name order (not picked for looks); each is centre-cropped
to 4:3 and scaled to ROW_HEIGHT pixels high *after* deraining at full resolution.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from derain.inference import load_model
from derain.io import list_images, read_rgb
from derain.paths import DEFAULT_MODEL, data_root

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "figures"
# (title, model, --vapour amount: None for the model's own)
COLUMNS: list[tuple[str, str | None, float | None]] = [
    ("rainy input", None, None), ("PReNet Rain100L", "prenet_rain100l", None),
    ("PReNet Rain100H", "prenet_rain100h", None), ("PReNet Rain1400", "prenet_rain1400", None),
    ("PReNet real", "prenet_real", None), ("supervised student", "derain_supervised", None),
    ("task-transfer student", "derain_student", None), ("streaks only", "derain_streaks", None),
    ("streaks and vapour", "derain_streaks_vapour", None), ("... --vapour 1", "derain_streaks_vapour", 1.0)]
ROWS, ROW_HEIGHT, ASPECT, GAP, LABEL = 4, 200, 4 / 3, 4, 22
BEFORE_AFTER = 1  # index among the grid's photos


def to_image(rgb: np.ndarray, height: int) -> Image.Image:
    """Centre crop to ASPECT (width / height), then scale to `height` pixels."""
    img = Image.fromarray(np.round(np.clip(rgb, 0, 1) * 255).astype(np.uint8))
    w = min(img.width, round(img.height * ASPECT))
    h = min(img.height, round(w / ASPECT))
    left, top = (img.width - w) // 2, (img.height - h) // 2
    img = img.crop((left, top, left + w, top + h))
    return img.resize((round(height * ASPECT), height), Image.Resampling.LANCZOS)


def grid(cells: list[list[Image.Image]], titles: list[str]) -> Image.Image:
    """Rows of equally high pictures (column width = widest in that column), titled columns."""
    widths = [max(row[c].width for row in cells) for c in range(len(titles))]
    height = cells[0][0].height
    canvas = Image.new("RGB", (sum(widths) + GAP * (len(widths) - 1), LABEL + len(cells) * (height + GAP)), "white")
    draw, font = ImageDraw.Draw(canvas), ImageFont.load_default(size=14)
    x = 0
    for c, title in enumerate(titles):
        draw.text((x + widths[c] // 2, LABEL // 2), title, fill="black", font=font, anchor="mm")
        for r, row in enumerate(cells):
            canvas.paste(row[c], (x, LABEL + r * (height + GAP)))
        x += widths[c] + GAP
    return canvas


def main() -> None:
    photos = list_images(data_root() / "real_rainy" / "udgnet43")
    picked = [photos[round(i * (len(photos) - 1) / (ROWS - 1))] for i in range(ROWS)]
    rainy = [read_rgb(p) for p in picked]
    outputs = {title: rainy if ref is None else [load_model(ref, vapour=vapour).remove(img) for img in rainy]
               for title, ref, vapour in COLUMNS}
    cells = [[to_image(outputs[title][r], ROW_HEIGHT) for title, _, _ in COLUMNS] for r in range(ROWS)]
    OUT.mkdir(parents=True, exist_ok=True)
    grid(cells, [t for t, _, _ in COLUMNS]).save(OUT / "real_grid.jpg", quality=90)
    default = next(title for title, ref, vapour in COLUMNS if ref == DEFAULT_MODEL and vapour is None)
    pair = [to_image(outputs[t][BEFORE_AFTER], 320) for t in ("rainy input", default)]
    grid([pair], ["rainy (udgnet43 " + picked[BEFORE_AFTER].name + ")", "derain remove (default model)"]).save(
        OUT / "before_after.jpg", quality=90)
    print("photos:", ", ".join(p.name for p in picked))


if __name__ == "__main__":
    main()
