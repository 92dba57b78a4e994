"""Write the study as a report folder: Markdown, CSVs of every number, a few PNGs.

The folder is built under a temporary name beside its destination and renamed into place at
the end, so an interrupted or failed run never leaves a partial report (nor clobbers an old one).
"""

from __future__ import annotations

import csv
import os
import shutil
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np

from derain.analysis.stats import ORIENTATION_BINS, RAIN_LAYER, STATISTICS
from derain.analysis.study import STAT_NAMES, PairDistance, Study
from derain.atomic import temp_sibling
from derain.errors import DerainError

REPORT_NAME = "report.md"


def _fmt(x: float) -> str:
    if not np.isfinite(x):
        return "n/a"
    return f"{x:.3g}" if abs(x) >= 1e-3 or x == 0 else f"{x:.2e}"


def _accuracy(p: PairDistance) -> str:
    d = p.domain
    return f"{d.accuracy:.2f} [{d.low:.2f}, {d.high:.2f}]" if d else "n/a"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *("| " + " | ".join(r) + " |" for r in rows),
            ""]


def _matrix(study: Study, cell: Callable[[PairDistance], str]) -> list[str]:
    names = [r.name for r in study.sets]
    rows = [[f"**{a}**", *("—" if a == b else cell(study.pair(a, b)) for b in names)] for a in names]
    return _table(["", *names], rows)


def _reference_section(study: Study, reference: str) -> list[str]:
    others = sorted((r.name for r in study.sets if r.name != reference),
                    key=lambda n: study.pair(n, reference).wasserstein_mean)
    lines = [
        f"## Distance of every set to `{reference}`",
        "",
        "Sorted from closest to farthest by the mean standardised Wasserstein distance.",
        "",
    ]
    pairs = {n: study.pair(n, reference) for n in others}
    rows = [[n, _fmt(p.wasserstein_mean), _fmt(p.wasserstein_rain), _fmt(p.wasserstein_picture), _fmt(p.frechet),
             _fmt(p.mmd2), _accuracy(p)] for n, p in pairs.items()]
    header = ["set", "mean Wasserstein", "rain-layer stats", "picture stats", "Frechet", "MMD²",
              "classifier accuracy [95% CI]"]
    lines += _table(header, rows)
    lines += [f"Rain-layer statistics: {', '.join(RAIN_LAYER)}; picture statistics: the others.", ""]
    lines += [f"Per statistic (Wasserstein distance to `{reference}` in standard deviations; closest set in bold):", ""]
    rows = []
    for j, stat in enumerate(STAT_NAMES):
        dists = [pairs[n].wasserstein[j] for n in others]
        best = int(np.argmin(dists))
        rows.append([stat, *(f"**{_fmt(d)}**" if i == best else _fmt(d) for i, d in enumerate(dists))])
    return lines + _table(["statistic", *others], rows)


def render_markdown(study: Study, provenance: dict[str, str], reference: str | None) -> str:
    """The report text (pure function of the study, so reruns give the same file)."""
    lines = ["# Statistical study of rainy image sets", ""]
    lines += [f"- **{k}**: `{v}`" for k, v in provenance.items()]
    lines += [
        f"- **working image**: short side resized to {study.size} px (bicubic, antialiased), "
        f"one {study.size}x{study.size} crop per image at a seeded position (seed {study.seed})",
        "",
        "## Sets",
        "",
    ]
    rows = []
    for r in study.sets:
        reasons = Counter("too small" if "below the working size" in why else "unreadable"
                          for why in r.image_set.skipped.values())
        rows.append([r.name, f"`{r.image_set.spec}`", str(r.listed), str(len(r.files)),
                     ", ".join(f"{n} {k}" for k, n in sorted(reasons.items())) or "0"])
    lines += _table(["set", "folder", "images", "analysed", "skipped"], rows)

    names = [r.name for r in study.sets]
    lines += ["## Per-set statistics", "", "Median [25th, 75th percentile] over the images of each set.", ""]
    rows = []
    for j, stat in enumerate(STAT_NAMES):
        quartiles = [np.percentile(r.values[:, j], [50, 25, 75]) for r in study.sets]
        rows.append([stat, *(f"{_fmt(q[0])} [{_fmt(q[1])}, {_fmt(q[2])}]" for q in quartiles)])
    lines += _table(["statistic", *names], rows)
    shaded = f" (`{reference}` shaded grey)" if reference else ""
    lines += [f"Histograms of every statistic per set{shaded}, and each set's mean orientation histogram:", "",
              "![histograms](histograms.png)", "", "![orientation](orientation.png)", ""]

    if len(names) > 1:
        lines += [
            "## Distances between sets",
            "",
            "Statistics are divided by their standard deviation over every image of this study before any distance, "
            "so the numbers are in standard deviations and comparable across pairs of the same report "
            "(not across reports).",
            "",
            "Mean over statistics of the per-statistic Wasserstein-1 distance:",
            "",
            *_matrix(study, lambda p: _fmt(p.wasserstein_mean)),
            "The same, over the rain-layer statistics only:",
            "",
            *_matrix(study, lambda p: _fmt(p.wasserstein_rain)),
            "Frechet distance between Gaussian fits of the statistic vectors:",
            "",
            *_matrix(study, lambda p: _fmt(p.frechet)),
            f"Unbiased MMD² (Gaussian kernel, bandwidth {_fmt(study.bandwidth)} = median pairwise distance):",
            "",
            *_matrix(study, lambda p: _fmt(p.mmd2)),
            f"Learned domain distance: {study.folds}-fold cross-validated accuracy [Wilson 95% CI] of a logistic "
            "regression on the standardised statistics, larger set subsampled to the smaller (chance = 0.50):",
            "",
            *_matrix(study, _accuracy),
            "![distance matrices](distances.png)",
            "",
        ]
    if reference is not None:
        lines += _reference_section(study, reference)

    lines += ["## Statistics", "",
              "Computed on the working image; intensities in [0, 1], lengths in working-scale pixels.", ""]
    lines += _table(["statistic", "meaning"], [[k, v] for k, v in STATISTICS.items()])
    lines += ["Every per-image value is in `statistics.csv`, every distance in `distances.csv`, "
              "each set's mean orientation histogram in `orientation.csv`.", ""]

    skipped = [(r.name, f, why) for r in study.sets for f, why in sorted(r.image_set.skipped.items())]
    if skipped:
        lines += ["## Skipped files", ""]
        lines += _table(["set", "file", "reason"], [[s, f"`{f}`", why] for s, f, why in skipped])
    return "\n".join(lines)


def _write_csvs(study: Study, folder: Path) -> None:
    with open(folder / "statistics.csv", "w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["set", "file", *STAT_NAMES])
        for r in study.sets:
            out.writerows([r.name, f, *(f"{v:.5g}" for v in row)] for f, row in zip(r.files, r.values))
    # per set: per image would be most of the report's size
    with open(folder / "orientation.csv", "w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["set", *(f"deg_{k * 180 // ORIENTATION_BINS}" for k in range(ORIENTATION_BINS))])
        out.writerows([r.name, *(f"{v:.5f}" for v in r.orientation.mean(axis=0))] for r in study.sets)
    with open(folder / "distances.csv", "w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["set_a", "set_b", "measure", "value", "ci_low", "ci_high"])
        for (a, b), p in study.pairs.items():
            out.writerows([a, b, f"wasserstein:{s}", f"{v:.6g}", "", ""] for s, v in zip(STAT_NAMES, p.wasserstein))
            out.writerow([a, b, "wasserstein_mean", f"{p.wasserstein_mean:.6g}", "", ""])
            out.writerow([a, b, "wasserstein_rain", f"{p.wasserstein_rain:.6g}", "", ""])
            out.writerow([a, b, "wasserstein_picture", f"{p.wasserstein_picture:.6g}", "", ""])
            out.writerow([a, b, "frechet", f"{p.frechet:.6g}", "", ""])
            out.writerow([a, b, "mmd2", f"{p.mmd2:.6g}", "", ""])
            if p.domain:
                out.writerow([a, b, "domain_accuracy", f"{p.domain.accuracy:.6g}", f"{p.domain.low:.6g}",
                              f"{p.domain.high:.6g}"])


def check_destination(out: Path, overwrite: bool) -> None:
    """Fail before any work if the report could not be put at `out`."""
    if out.exists() and not out.is_dir():
        raise DerainError(f"{out}: exists and is not a directory")
    if out.exists() and not overwrite:
        raise DerainError(f"{out}: already exists (use --overwrite to replace it)")


def write_report(study: Study, out: Path, provenance: dict[str, str], reference: str | None = None,
                 overwrite: bool = False) -> Path:
    """Write the report folder atomically; returns the path of the Markdown file."""
    from derain.analysis import plots  # matplotlib only when a report is written

    check_destination(out, overwrite)
    parent = out.parent if str(out.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = temp_sibling(parent / out.name, folder=True)
    except OSError as exc:
        raise DerainError(f"{out}: cannot write here ({exc.strerror or exc})") from exc
    try:
        (tmp / REPORT_NAME).write_text(render_markdown(study, provenance, reference) + "\n")
        _write_csvs(study, tmp)
        plots.plot_histograms(study, tmp / "histograms.png", reference)
        plots.plot_orientation(study, tmp / "orientation.png")
        if len(study.sets) > 1:
            plots.plot_distance_matrices(study, tmp / "distances.png")
        if out.exists():  # swap: the old report stays whole until the new one is in place
            old = temp_sibling(parent / out.name, tag="old.", folder=True)
            os.replace(out, old / out.name)
            try:
                os.replace(tmp, out)
            except BaseException:  # a signal included: the old report goes back
                os.replace(old / out.name, out)
                raise
            finally:
                shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except OSError as exc:
        raise DerainError(f"{out}: cannot write the report ({exc.strerror or exc})") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out / REPORT_NAME
