#!/usr/bin/env python
"""Sweep throughput: local pool with 1 and 2 workers, and Dask LocalCluster with 2 workers.

Each job is a real ngspice transient of an RC ladder (its own process and ngspice). Prints jobs
per second for each executor and the ratios, from one run. Usage:

    .venv/bin/python scripts/bench_sweep.py [--jobs 12] [--sections 400]
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import click


def ladder_netlist(sections: int) -> str:
    lines = ["rc ladder for the sweep benchmark", ".param rs=100 cs=1n", "V1 n0 0 PULSE(0 1 0 1n 1n 5u 10u)"]
    for k in range(sections):
        lines.append(f"R{k} n{k} n{k + 1} {{rs}}")
        lines.append(f"C{k} n{k + 1} 0 {{cs}}")
    lines += [".end"]
    return "\n".join(lines) + "\n"


@click.command()
@click.option("--jobs", default=12, show_default=True, help="Jobs per executor.")
@click.option("--sections", default=400, show_default=True, help="RC sections per ladder (job size).")
@click.option("--json", "json_out", metavar="FILE|-", help="Also write the table as JSON.")
def main(jobs: int, sections: int, json_out: str | None) -> None:
    from memcircuit.cli.common import emit_json
    from memcircuit.cli.sweep import JOB_KINDS
    from memcircuit.parallel import SweepSpec, make_executor, run_sweep

    with tempfile.TemporaryDirectory(prefix="memcircuit-bench-sweep-") as tmp:
        net = Path(tmp) / "ladder.cir"
        net.write_text(ladder_netlist(sections))
        spec = SweepSpec.from_dict({
            "kind": "spice",
            "base": {"netlist": str(net), "analysis": "tran 50n 20u", "measure": [f"v(n{sections})"]},
            "axes": {"params.rs": [f"{100 + i}" for i in range(jobs)]}, "timeout": 600}, kinds=JOB_KINDS)
        rows = []
        for label, name, workers in (("local, 1 worker", "local", 1), ("local, 2 workers", "local", 2),
                                     ("dask LocalCluster, 2 workers", "dask", 2)):
            start = time.perf_counter()
            with make_executor(name, workers=workers) as ex:
                report = run_sweep(spec, Path(tmp) / name / str(workers), ex, progress=False)
            seconds = time.perf_counter() - start
            assert report.failed == 0, [r["error"] for r in report.rows if r["status"] != "ok"]
            rows.append({"executor": label, "jobs": jobs, "seconds": round(seconds, 2),
                         "jobs_per_s": round(jobs / seconds, 2)})
    base = rows[0]["jobs_per_s"]
    for row in rows:
        row["speedup_vs_1_worker"] = round(row["jobs_per_s"] / base, 2)
    click.echo(f"{'executor':<32}{'jobs':>6}{'seconds':>10}{'jobs/s':>9}{'vs 1 worker':>13}")
    for row in rows:
        click.echo(f"{row['executor']:<32}{row['jobs']:>6}{row['seconds']:>10}{row['jobs_per_s']:>9}"
                   f"{row['speedup_vs_1_worker']:>12}x")
    if json_out:
        emit_json({"sections": sections, "rows": rows}, json_out)


if __name__ == "__main__":
    main()
