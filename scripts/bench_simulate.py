#!/usr/bin/env python
"""Time and peak memory of `memcircuit simulate` on built crossbars, this tree against another.

For each size it builds the README's crossbar (exp-pulse devices, 1T1R, differential, 2.5 ohm
wires, TIA) and runs `memcircuit simulate xbar.cir --json x.json` in a fresh process, once with
this checkout and, with ``--old DIR``, once with the checkout in DIR first on the path (e.g. the
commit before the raw reader change). Peak memory is the largest process of the run (the Python
process or its ngspice), from ``os.wait4``. Runs are capped (address space and seconds) so that
the old reader, which grew to 24 GB on 32 x 32, cannot take the machine down. Usage:

    .venv/bin/python scripts/bench_simulate.py [--sizes 8,16,32,64] [--old DIR] [--cap-gb 6]
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import click

HERE = Path(__file__).resolve().parents[1]
BUILD = ["build", "crossbar", "--device", "exp-pulse", "--cell", "1T1R", "--signed", "differential",
         "--r-wire", "2.5", "--sense", "tia"]


def memcircuit_cmd(*args: str) -> list[str]:
    return [sys.executable, "-c", "from memcircuit.cli import main; main()", *args]


def measure(tree: Path, netlist: Path, out: Path, cap_bytes: int, max_seconds: float) -> dict:
    """Run `simulate` with ``tree`` first on the path; seconds, peak MB and how it ended."""
    def limit() -> None:  # in the child, before exec
        resource.setrlimit(resource.RLIMIT_AS, (cap_bytes, cap_bytes))
        os.setsid()

    env = dict(os.environ, PYTHONPATH=str(tree))
    start = time.perf_counter()
    # run in the netlist's folder: `python -c` puts the working folder first on the path
    proc = subprocess.Popen(memcircuit_cmd("simulate", str(netlist), "--json", str(out)), env=env,
                            cwd=netlist.parent, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            preexec_fn=limit)
    ended = "ok"
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() - start > max_seconds:
            os.killpg(proc.pid, signal.SIGKILL)
            _, status, usage = os.wait4(proc.pid, 0)
            ended = f"killed after {max_seconds:g} s"
            break
        time.sleep(0.05)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace").strip().splitlines()
    proc.stderr.close()
    if ended == "ok" and proc.returncode != 0:
        ended = "MemoryError at the cap" if any("MemoryError" in ln for ln in err) else (err or ["failed"])[-1][:60]
    return {"seconds": round(seconds, 2), "peak_mb": round(usage.ru_maxrss / 1024), "ended": ended}


@click.command()
@click.option("--sizes", default="8,16,32,64", show_default=True, help="Crossbar sizes n (n x n).")
@click.option("--old", "old_tree", type=click.Path(file_okay=False, exists=True),
              help="Another checkout to compare with (its memcircuit first on the path).")
@click.option("--cap-gb", default=6.0, show_default=True, help="Address-space cap per run, GB.")
@click.option("--max-seconds", default=300.0, show_default=True, help="Kill a run after this long.")
def main(sizes: str, old_tree: str | None, cap_gb: float, max_seconds: float) -> None:
    trees = [("new", HERE)] + ([("old", Path(old_tree).resolve())] if old_tree else [])
    cap = int(cap_gb * 2**30)
    rows = []
    with tempfile.TemporaryDirectory(prefix="memcircuit-bench-simulate-") as tmp:
        for n in (int(s) for s in sizes.split(",")):
            net = Path(tmp) / f"xbar{n}.cir"
            subprocess.run(memcircuit_cmd(*BUILD, "--rows", str(n), "--cols", str(n), "-o", str(net)),
                           env=dict(os.environ, PYTHONPATH=str(HERE)), cwd=tmp, check=True, capture_output=True)
            row = {"n": n}
            for label, tree in trees:
                row[label] = measure(tree, net, Path(tmp) / f"{label}{n}.json", cap, max_seconds)
            rows.append(row)
            click.echo(row)
    head = f"{'crossbar':<10}" + "".join(f"{label + ' s':>10}{label + ' MB':>10}" for label, _ in trees)
    click.echo(head + ("  old ended" if old_tree else ""))
    for row in rows:
        size = f"{row['n']} x {row['n']}"
        line = f"{size:<10}" + "".join(
            f"{row[label]['seconds']:>10}{row[label]['peak_mb']:>10}" for label, _ in trees)
        click.echo(line + (f"  {row['old']['ended']}" if old_tree else ""))


if __name__ == "__main__":
    main()
