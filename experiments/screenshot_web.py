"""Screenshot of `derain serve` for the README: docs/figures/web.png.

The photo is the one `derain demo` uses (matplotlib's public-domain portrait of Grace Hopper) with
the demo's rain; it goes through the real page in headless Chromium, and the picture is taken once
the before/after slider shows the result. Needs the extra `derain[web-test]` and Debian's
`chromium` and `chromium-driver`:

    python experiments/screenshot_web.py [--out docs/figures/web.png]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the web tests' helpers: server thread, Chromium

from webtools import ServerThread, chromium, missing_browser, upload, wait_for_card

from derain.atomic import atomic_write_bytes
from derain.commands.demo import SAMPLE, sample_path
from derain.io import Picture, read_rgb, write_picture
from derain.synth.pairs import pair_seed, render_pair
from derain.synth.preset import load_preset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "figures" / "web.png")
    args = parser.parse_args()
    if reason := missing_browser():
        sys.exit(f"screenshot_web: {reason}")
    with tempfile.TemporaryDirectory() as tmp:
        photo = Path(tmp) / "grace_hopper_rain.jpg"
        _, rainy, _ = render_pair(read_rgb(sample_path()), load_preset("medium"), pair_seed(0, SAMPLE))
        write_picture(photo, Picture(rainy))
        server = ServerThread()
        driver = chromium(Path(tmp), width=1100, height=1100)
        try:
            upload(driver, server.url, [photo])
            card = wait_for_card(driver, photo.name)
            if card.get_attribute("data-state") != "done":
                sys.exit(f"screenshot_web: the page reports {card.text!r}")
            driver.execute_async_script("const [img, done] = arguments; img.complete ? done() : img.onload = done;",
                                        card.find_element("css selector", ".after"))
            png = driver.get_screenshot_as_png()
        finally:
            driver.quit()
            server.stop()
    atomic_write_bytes(args.out, png)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
