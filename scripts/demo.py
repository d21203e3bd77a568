#!/usr/bin/env python
"""The main job, end to end: circuits simulated in ngspice, plots and a JSON summary in OUT/.

Run through `make demo` (which sets everything up first) or directly:
    .venv/bin/python scripts/demo.py --out out
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click


def stage(name: str):
    click.echo(f"[demo] {name}", err=True)


@click.command()
@click.option("--out", default="out", show_default=True, type=click.Path(file_okay=False))
@click.option("--seed", default=0, show_default=True, type=int)
def main(out: str, seed: int) -> None:
    """Build, simulate, train and plot; write OUT/summary.json last (so it marks a finished run)."""
    import numpy as np

    from memcircuit.cli.common import write_atomic
    from memcircuit.netlist import Capacitor, Circuit, Pulse, Resistor, Tran, VoltageSource
    from memcircuit.plot import plot_waveforms, save_figure
    from memcircuit.spice import SharedEngine
    from memcircuit.spice.doctor import diagnose

    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "summary.json").unlink(missing_ok=True)
    summary: dict = {"seed": seed}
    t0 = time.perf_counter()

    stage("checking the simulator")
    info = diagnose(shared=False)
    summary["ngspice"] = {k: info[k] for k in ("ngspice_version", "klu", "osdi", "openvaf")}
    if not info["ok"]:
        raise SystemExit("simulator problems: " + "; ".join(info["problems"]))

    stage("driver RC transient in ngspice")
    rc = Circuit("driver rc", elements=(
        VoltageSource("Vdrv", ("in", "0"), wave=Pulse(0, 1.0, 1e-9, 1e-9, 1e-9, 5e-6, 10e-6)),
        Resistor("Rout", ("in", "row"), 1e3), Capacitor("Crow", ("row", "0"), 1e-9)))
    with SharedEngine() as engine:
        result = engine.run(rc, Tran(2e-8, 2e-5))
    tau = 1e-6
    t, v = result.time, result["v(row)"]
    rise = v[np.searchsorted(t, 1e-9 + 3 * tau)]
    summary["driver_rc"] = {"v_after_3tau": float(rise), "analytic": float(1 - np.exp(-3))}
    save_figure(plot_waveforms(result, ["v(in)", "v(row)", "i(vdrv)"]), out_dir / "driver_rc.png")

    summary["seconds"] = round(time.perf_counter() - t0, 2)
    write_atomic(out_dir / "summary.json", json.dumps(summary, indent=2) + "\n")
    stage(f"done in {summary['seconds']} s: {out_dir}/summary.json and plots")


if __name__ == "__main__":
    sys.exit(main())
