"""Throughput and peak memory of the inference backends, against torch fp32 measured in the same run.

    python benchmarks/bench_backends.py              # 481x321 and a tiled 4000x3000 photo
    python benchmarks/bench_backends.py --no-large   # 481x321 only

Each (backend, size) runs in a fresh subprocess with the shipped student, so peak resident memory
(ru_maxrss) counts that run alone; speed is the median of `--repeats` runs after a warm-up.
Backends: torch fp32 (the baseline), torch bf16 autocast, onnxruntime fp32 (graph optimisation
level ALL) and onnxruntime int8 (`derain export onnx --int8`, calibrated on the training pools
sirr147 and bsds500 of the data root with rain rendered on them; skipped without one) with 8-bit
weights (`--full-range`, for CPUs with VNNI) and 7-bit ones (`--reduce-range`, for those without).
`max_diff` is the largest difference from the torch fp32 output in [0, 1]; the int8 model's
quality is scored on the selection set by experiments/selection.py. Writes docs/benchmarks/backends.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

BACKENDS = {"torch fp32": {"backend": "torch"}, "torch bf16": {"backend": "torch", "bf16": True},
            "onnx fp32": {"backend": "onnx"}}

RUN_SCRIPT = """
import json, resource, statistics, time, numpy as np, torch
from derain.inference import load_model
torch.set_num_threads({threads})
img = np.random.default_rng(0).random(({h}, {w}, 3), dtype=np.float32)
d = load_model(**{kwargs!r})
out = d.remove(img)
times = []
for _ in range({repeats}):
    t = time.perf_counter(); d.remove(img); times.append(time.perf_counter() - t)
ref = load_model().remove(img) if {compare} else None  # after the timing: torch's threads would compete
print(json.dumps({{"seconds": statistics.median(times),
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "max_diff": float(np.abs(out - ref).max()) if ref is not None else 0.0}}))
"""


def measure(kwargs: dict, h: int, w: int, repeats: int, threads: int) -> dict:
    compare = kwargs.get("backend") != "torch" or kwargs.get("bf16", False)  # every backend but torch fp32
    script = RUN_SCRIPT.format(threads=threads, h=h, w=w, compare=compare, kwargs=kwargs,
                               repeats=repeats)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--no-large", action="store_true", help="skip the tiled 12-MP photo")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tile", default="auto", help="tile size of every backend (auto: 768 px above 1 MP)")
    parser.add_argument("--json", type=Path, default=Path("docs/benchmarks/backends.json"))
    args = parser.parse_args()
    sizes = [(321, 481, args.repeats)] + ([] if args.no_large else [(3000, 4000, 1)])
    backends = dict(BACKENDS)
    tmp = tempfile.TemporaryDirectory()
    for bits, flag in (("8-bit", "--full-range"), ("7-bit", "--reduce-range")):
        int8 = Path(tmp.name, f"student.int8-{bits}.onnx")
        export = subprocess.run(["derain", "export", "onnx", "--int8", flag, "-o", str(int8)], capture_output=True,
                                text=True)
        if export.returncode == 0:
            backends[f"onnx int8 {bits}"] = {"name_or_path": str(int8)}
        else:
            print(f"onnx int8 {bits} skipped: {export.stderr.strip().splitlines()[-1]}")
    rows = []
    for h, w, repeats in sizes:
        base = None
        for name, kwargs in backends.items():
            result = measure({**kwargs, **({"tile": int(args.tile)} if args.tile != "auto" else {})}, h, w, repeats,
                             args.threads)
            base = base or result["seconds"]
            rows.append({"backend": name, "size": f"{w}x{h}", **result, "speedup": base / result["seconds"]})
            r = rows[-1]
            print(f"{r['size']:>10s} {name:17s} {r['seconds']:8.3f} s {r['speedup']:6.2f}x "
                  f"{r['peak_mib']:8.0f} MiB  max diff {r['max_diff']:.1e}", flush=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"threads": args.threads, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
