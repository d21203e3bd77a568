#!/usr/bin/env python
"""The main job, end to end, through the same commands a user types.

1. check the simulator (ngspice with KLU and OSDI, OpenVAF);
2. a memristor model in Verilog-A (compiled by OpenVAF, loaded through OSDI): its pinched I-V
   loop, and a pulse train in ngspice (conductance after each pulse);
3. a 16 x 16 crossbar with 2.5 ohm wire segments and TIA sense amplifiers: the netlist, a batch
   of reads in ngspice against our nodal solver and against the ideal G^T V;
4. a V/2 pulse program on an 8 x 8 memristor tile as one ngspice transient: the selected cells
   move, the half-selected ones barely;
5. an iris MLP (4-8-3) trained with momentum SGD whose forward reads, backward reads and weight
   programming all run in ngspice, next to the same run on the numeric fidelity;
6. plots and OUT/summary.json (written last, so it marks a finished run).

Run through ``make demo`` (which sets everything up first) or directly::

    .venv/bin/python scripts/demo.py --out out
"""

from __future__ import annotations

import json
import shlex
import sys
import time
from pathlib import Path

import click
import numpy as np


def stage(name: str) -> None:
    click.echo(f"[demo] {name}", err=True)


def memcircuit(*args: object) -> None:
    """Run one ``memcircuit`` command in this process, echoing it so it can be retyped."""
    from memcircuit.cli import cli

    argv = [str(a) for a in args]
    click.echo("  $ memcircuit " + " ".join(shlex.quote(a) for a in argv), err=True)
    cli.main(args=argv, prog_name="memcircuit", standalone_mode=False)


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def rel_diff(a: np.ndarray, b: np.ndarray) -> float:
    """Largest difference relative to the largest magnitude of the reference ``b``."""
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


@click.command()
@click.option("--out", default="out", show_default=True, type=click.Path(file_okay=False))
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--epochs", default=5, show_default=True, type=click.IntRange(min=1),
              help="Training epochs of the iris network (each fidelity).")
def main(out: str, seed: int, epochs: int) -> None:
    """Build, simulate, train and plot; write OUT/summary.json last."""
    from memcircuit.fileio import write_atomic

    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "summary.json").unlink(missing_ok=True)
    rng = np.random.default_rng(seed)
    summary: dict = {"seed": seed}
    t0 = time.perf_counter()

    stage("1/5 checking the simulator")
    from memcircuit.spice.doctor import diagnose

    click.echo("  (the same check as: memcircuit doctor --json)", err=True)
    doctor = diagnose(shared=True)
    write_atomic(out_dir / "doctor.json", json.dumps(doctor, indent=2, default=str) + "\n")
    if not doctor["ok"]:
        raise SystemExit("simulator problems: " + "; ".join(doctor["problems"]))
    summary["ngspice"] = {k: doctor[k] for k in ("ngspice_version", "klu", "osdi", "openvaf")}

    stage("2/5 device: Yakopcic memristor in Verilog-A (OSDI), exp-pulse pulse train in ngspice")
    memcircuit("models", "iv", "yakopcic", "--form", "va", "--cycles", 2,
               "--json", out_dir / "device_iv.json", "--plot", out_dir / "device_iv.png")
    iv = load(out_dir / "device_iv.json")
    v, i = np.asarray(iv["v"]), np.asarray(iv["i"])
    near_zero = np.abs(v) < 1e-3 * np.max(np.abs(v))
    summary["device_iv"] = {"model": "yakopcic", "form": "va",
                            "lobe_areas_w": [iv["lobe_area_pos"], iv["lobe_area_neg"]],
                            "max_abs_i_at_v0_over_max_i": float(np.max(np.abs(i[near_zero])) / np.max(np.abs(i)))}
    memcircuit("models", "pulses", "exp-pulse", "--n", 60, "--amp", 1, "--width", "100n",
               "--json", out_dir / "device_pulses.json", "--plot", out_dir / "device_pulses.png")
    pulses = load(out_dir / "device_pulses.json")
    g_spice = np.asarray(pulses["conductance"])
    summary["device_pulses"] = {"model": "exp-pulse", "n": 60, "g_first_s": float(g_spice[0]),
                                "g_last_s": float(g_spice[-1]), "monotonic": bool(np.all(np.diff(g_spice) > 0)),
                                "numeric_vs_ngspice_rel": rel_diff(np.asarray(pulses["conductance_numeric"]), g_spice)}

    stage("3/5 crossbar: 16 x 16, 2.5 ohm wire segments; reads in ngspice vs nodal solver vs G^T V")
    rows = cols = 16
    g = rng.uniform(1e-6, 1e-4, (rows, cols))
    v_in = rng.uniform(-0.2, 0.2, (20, rows))
    np.save(out_dir / "G.npy", g)
    np.save(out_dir / "V.npy", v_in)
    geometry = ["--rows", rows, "--cols", cols, "--r-wire", 2.5]
    memcircuit("build", "crossbar", *geometry, "--sense", "tia", "--conductances", out_dir / "G.npy",
               "-o", out_dir / "crossbar_16x16_tia.cir")
    currents = {}
    for fidelity in ("spice", "numeric", "ideal"):
        path = out_dir / f"read_{fidelity}.json"
        memcircuit("tile", "read", *geometry, "--conductances", out_dir / "G.npy", "--inputs", out_dir / "V.npy",
                   "--fidelity", fidelity, "--json", path)
        currents[fidelity] = np.asarray(load(path)["currents"])
    memcircuit("tile", "read", *geometry, "--sense", "tia", "--conductances", out_dir / "G.npy",
               "--inputs", out_dir / "V.npy", "--fidelity", "spice", "--json", out_dir / "read_spice_tia.json")
    currents["spice_tia"] = np.asarray(load(out_dir / "read_spice_tia.json")["currents"])
    memcircuit("plot", "conductance", out_dir / "G.npy", "-o", out_dir / "crossbar_conductances.png",
               "--title", "16 x 16 crossbar conductances (S)")
    summary["crossbar_read"] = {
        "shape": [rows, cols], "r_wire_ohm": 2.5, "batch": int(v_in.shape[0]),
        "numeric_vs_spice_rel": rel_diff(currents["numeric"], currents["spice"]),
        "ideal_vs_spice_rel (IR drop)": rel_diff(currents["ideal"], currents["spice"]),
        "tia_vs_ideal_sense_rel": rel_diff(currents["spice_tia"], currents["spice"]),
    }

    stage("4/5 programming: V/2 pulses on an 8 x 8 exp-pulse tile, one ngspice transient")
    n = 8
    g0 = rng.uniform(6e-6, 1.4e-5, (n, n))
    np.save(out_dir / "G_prog.npy", g0)
    # cell (2, 5) potentiated, cell (5, 2) depressed; every other cell on those lines is half-selected
    steps = []
    for (r, c, sign) in ((2, 5, 1.0), (5, 2, -1.0)):
        row_v, col_v = np.zeros(n), np.zeros(n)
        row_v[r], col_v[c] = sign * 0.5, -sign * 0.5
        steps.append({"rows": row_v.tolist(), "cols": col_v.tolist(), "row_widths": 2e-6, "col_widths": 2e-6})
    (out_dir / "program.json").write_text(json.dumps({"steps": steps}, indent=1))
    memcircuit("tile", "program", "--rows", n, "--cols", n, "--device", "exp-pulse",
               "--conductances", out_dir / "G_prog.npy", "--pulses", out_dir / "program.json",
               "--fidelity", "spice", "--plot", out_dir / "programming_waveforms.png",
               "--save", out_dir / "G_prog_after.npy", "--json", out_dir / "program_spice.json")
    report = load(out_dir / "program_spice.json")
    dg = np.asarray(report["g_after"]) - np.asarray(report["g_before"])
    np.save(out_dir / "G_prog_change.npy", dg)
    memcircuit("plot", "conductance", out_dir / "G_prog_change.npy", "-o", out_dir / "programming_change.png",
               "--title", "Conductance change after the V/2 program (S)")
    half = np.zeros((n, n), dtype=bool)
    half[[2, 5], :] = True
    half[:, [5, 2]] = True
    half[2, 5] = half[5, 2] = False
    summary["programming"] = {
        "selected_change_s": [float(dg[2, 5]), float(dg[5, 2])],
        "largest_half_selected_change_s": float(np.max(np.abs(dg[half]))),
        "energy_j": report["energy_j"],
    }

    stage(f"5/5 training: iris 4-8-3, momentum SGD, {epochs} epochs, in ngspice and on the numeric fidelity")
    train = ["--dataset", "iris", "--layers", "4,8,3", "--device", "exp-pulse", "--optimizer", "momentum",
             "--epochs", epochs, "--batch", 8, "--seed", seed, "--lr", 0.5]
    runs = {}
    for fidelity in ("spice", "numeric"):
        run_dir = out_dir / f"train_iris_{fidelity}"
        resume = ["--resume"] if (run_dir / "config.json").is_file() else []
        memcircuit("train", *train, "--fidelity", fidelity, "--out", run_dir, *resume)
        memcircuit("plot", "training", run_dir, "-o", out_dir / f"training_{fidelity}.png")
        metrics = load(run_dir / "metrics.json")
        runs[fidelity] = {"final_test_acc": metrics["final_test_acc"],
                          "test_acc_per_epoch": [r["test_acc"] for r in metrics["epochs"]],
                          "pulses": sum(r["pulses"] for r in metrics["epochs"]),
                          "energy_j": sum(r["energy_j"] or 0.0 for r in metrics["epochs"]),
                          "seconds": round(sum(r["seconds"] for r in metrics["epochs"]), 2)}
    summary["training"] = runs

    summary["seconds"] = round(time.perf_counter() - t0, 1)
    write_atomic(out_dir / "summary.json", json.dumps(summary, indent=2) + "\n")
    figures = sorted(p.name for p in out_dir.glob("*.png"))
    stage(f"done in {summary['seconds']} s: {out_dir}/summary.json and {len(figures)} figures ({', '.join(figures)})")
    click.echo(json.dumps(summary, indent=2))


if __name__ == "__main__":
    sys.exit(main())
