"""Speed and memory of every registered derainer, against PReNet measured in the same run.

    python benchmarks/bench_models.py                 # all derainers, 481x321 and 4000x3000
    python benchmarks/bench_models.py --no-large      # skip the 12-MP peak-memory runs
    python benchmarks/bench_models.py --flips 2 4     # also the default's network averaged over 2 and 4
                                                      # mirrored copies (`--flips`)

First a size table of every registered network (the teachers, the student, PReNet): parameters
and multiply-accumulates for one 481x321 image. Then, for the derainers:

Speed: median seconds per 481x321 image (fp32, channels_last; with --bf16 also bfloat16
autocast, which only pays on CPUs with native bf16), after a warm-up. A model with a vapour branch
runs both passes (`vapour=1`, its slowest use). Peak memory: each 4000x3000 run happens in a fresh
subprocess with the engine's defaults (the 640-px working size, automatic tiling), and the
process's peak resident memory (ru_maxrss) is reported, so nothing another model allocated is
counted. Ratios are against PReNet from the same run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

import torch

from derain.archs import arch_info, create_model, list_models
from derain.archs.complexity import count_macs, count_params
from derain.inference import Derainer
from derain.paths import DEFAULT_MODEL
from derain.weights import model_info

DEFAULT_ARCH = model_info(DEFAULT_MODEL)["arch"]  # the network of the shipped default
PEAK_SCRIPT = """
import json, resource, sys, time, numpy as np, torch
from derain.archs import arch_info, create_model
from derain.inference import Derainer
torch.set_num_threads({threads})
d = Derainer(create_model("{name}"), vapour=1.0 if arch_info("{name}").vapour else None, flips={flips})
img = np.random.default_rng(0).random((3000, 4000, 3), dtype=np.float32)
t = time.perf_counter(); d.remove(img); t = time.perf_counter() - t
print(json.dumps({{"peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "seconds": t}}))
"""


def derainers() -> list[str]:
    """Registered architectures that map an image to an image (classifiers are left out)."""
    names = []
    for name in list_models():
        with torch.no_grad():
            out = create_model(name).eval()(torch.zeros(1, 3, 16, 16))
        if out.shape == (1, 3, 16, 16):
            names.append(name)
    return names


ROLES = {"rain_classifier": "teacher A (recognition)", "rain_unet_l": "teacher B (reconstruction)",
         "rain_unet_s": "student; the default's streak branch", "vapour_s": "the default's vapour branch",
         "streaks_vapour_s": "the default (streaks and vapour)", "prenet": "peer (PReNet, 6 stages)",
         "brn": "peer (BRN, 8 stages)"}


def size_table() -> list[dict[str, object]]:
    """Parameters and GMACs at 481x321 of every registered network, with its role in the chain."""
    rows = []
    for name in list_models():
        model = create_model(name)
        rows.append({"model": name, "role": ROLES.get(name, ""), "params": count_params(model),
                     "gmacs": count_macs(model, 321, 481) / 1e9})
    print("| network | role | params | GMACs 481x321 |\n|---|---|---:|---:|")
    for r in rows:
        print(f"| {r['model']} | {r['role']} | {r['params'] / 1e6:.3f} M | {r['gmacs']:.2f} |")
    return rows


def seconds_per_image(name: str, bf16: bool, repeats: int, flips: int = 1) -> float:
    derainer = Derainer(create_model(name), tile=0, bf16=bf16, vapour=1.0 if arch_info(name).vapour else None,
                        flips=flips)
    x = torch.rand(3, 321, 481)
    derainer.restore(x)  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        derainer.restore(x)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def peak_memory(name: str, threads: int, flips: int = 1) -> dict[str, float]:
    proc = subprocess.run([sys.executable, "-c", PEAK_SCRIPT.format(name=name, threads=threads, flips=flips)],
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="*", help="subset of architectures (default: every derainer)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-large", action="store_true", help="skip the 4000x3000 peak-memory runs")
    parser.add_argument("--bf16", action="store_true", help="also time bfloat16 autocast")
    parser.add_argument("--flips", nargs="*", type=int, default=[], choices=[2, 4],
                        help="also time the default's network averaged over this many mirrored copies")
    parser.add_argument("--json", help="also write the rows to this JSON file")
    args = parser.parse_args()
    threads = torch.get_num_threads()
    sizes = size_table()
    names = args.models or derainers()
    if "prenet" not in names:
        names = ["prenet", *names]
    runs = [(name, 1) for name in names] + [(DEFAULT_ARCH, flips) for flips in args.flips]
    rows = []
    for name, flips in runs:
        model = create_model(name)
        label = name if flips == 1 else f"{name}, {flips} copies"
        extra = (flips - 1) * count_macs(getattr(model, "streaks", model), 321, 481)  # copies of the streak pass
        row = {"model": label, "params": count_params(model), "gmacs": (count_macs(model, 321, 481) + extra) / 1e9,
               "s_fp32": seconds_per_image(name, False, args.repeats, flips)}
        if args.bf16:
            row["s_bf16"] = seconds_per_image(name, True, args.repeats, flips)
        if not args.no_large:
            large = peak_memory(name, threads, flips)
            row |= {"s_12mp": large["seconds"], "peak_mib_12mp": large["peak_mib"]}
        rows.append(row)
        print(f"measured {label}", file=sys.stderr)
    base = next(r for r in rows if r["model"] == "prenet")
    print(f"\n{threads} threads, torch {torch.__version__}; ratios are against PReNet in this run\n")
    head = "| model | params | GMACs 481x321 | s/img fp32 | img/s fp32 | speed vs PReNet |"
    sep = "|---|---:|---:|---:|---:|---:|"
    if args.bf16:
        head += " s/img bf16 |"
        sep += "---:|"
    if not args.no_large:
        head += " s 4000x3000 (tiled) | peak MiB 4000x3000 | memory vs PReNet |"
        sep += "---:|---:|---:|"
    print(head)
    print(sep)
    for r in rows:
        line = (f"| {r['model']} | {r['params'] / 1e6:.3f} M | {r['gmacs']:.2f} | {r['s_fp32']:.3f} | "
                f"{1 / r['s_fp32']:.2f} | {base['s_fp32'] / r['s_fp32']:.1f}x |")
        if args.bf16:
            line += f" {r['s_bf16']:.3f} |"
        if not args.no_large:
            line += (f" {r['s_12mp']:.1f} | {r['peak_mib_12mp']:.0f} | "
                     f"{r['peak_mib_12mp'] / base['peak_mib_12mp']:.2f}x |")
        print(line)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"threads": threads, "torch": torch.__version__, "sizes": sizes, "rows": rows}, fh, indent=2)


if __name__ == "__main__":
    main()
