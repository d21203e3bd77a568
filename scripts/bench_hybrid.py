#!/usr/bin/env python
"""Hybrid programming against spice on the same pulse program, side by side in one run.

The per-device (pwm) program of ``scripts/bench_program.py`` on a ROWS x COLS ``exp-pulse``
tile with wire resistance, programmed from the same start states by

* ``spice``: one ngspice transient of the whole program (the array's own dynamics);
* ``hybrid``, ``bias_refresh="interval"``: the numeric twin, every constant-voltage interval's
  cell voltages from an ngspice operating point at the states of that moment (the bias circuit
  parsed once per state, the interval's drive fed as a value);
* ``hybrid``, ``bias_refresh="program"``: the bias of every interval from one ngspice DC sweep at
  the program's start states (one parse per program).

Prints seconds per program (best of ``--repeat``, tile and worker started before timing), the
ratio to spice and the largest final-state difference from spice in units of the state range.

    .venv/bin/python scripts/bench_hybrid.py                  # 8 x 8, 1 ohm
    .venv/bin/python scripts/bench_hybrid.py --rows 16 --cols 16 --repeat 2
"""

from __future__ import annotations

import time

import click
import numpy as np
from bench_program import pwm_program


@click.command()
@click.option("--rows", default=8, show_default=True)
@click.option("--cols", default=8, show_default=True)
@click.option("--r-wire", default=1.0, show_default=True, help="ohm per wire segment")
@click.option("--max-units", default=16, show_default=True)
@click.option("--t-unit", default=10e-9, show_default=True, help="s per pulse unit")
@click.option("--v-prog", default=2.0, show_default=True, help="V across a selected cell")
@click.option("--repeat", default=2, show_default=True)
@click.option("--seed", default=0, show_default=True)
def main(rows, cols, r_wire, max_units, t_unit, v_prog, repeat, seed) -> None:
    """Seconds per programming run: spice transient vs hybrid (both bias-refresh modes)."""
    from memcircuit.devices import get_device
    from memcircuit.tiles import make_tile

    rng = np.random.default_rng(seed)
    device = get_device("exp-pulse")
    x0 = rng.uniform(0.2, 0.8, (rows, cols))
    program = pwm_program(rows, cols, v_prog, t_unit, max_units, rng)
    settings = [("spice", {}), ("hybrid", {"bias_refresh": "interval"}), ("hybrid", {"bias_refresh": "program"})]
    out = []
    for fidelity, kw in settings:
        with make_tile(fidelity, rows, cols, device=device, states=x0, r_wire=r_wire, **kw) as tile:
            tile.read(np.zeros((1, rows)))  # start the worker
            best, final, energy = None, None, None
            for _ in range(max(1, repeat)):
                tile.set_states(x0)
                t0 = time.perf_counter()
                report = tile.program(program)
                seconds = time.perf_counter() - t0
                best = seconds if best is None else min(best, seconds)
                final, energy = tile.states().copy(), report.energy_j
        out.append((fidelity, kw.get("bias_refresh", "-"), best, final, energy))
    ref_s, ref_x, ref_e = out[0][2], out[0][3], out[0][4]
    click.echo(f"# {rows} x {cols} exp-pulse tile, {r_wire} ohm segments, {len(program.steps)} pwm steps\n")
    click.echo("| fidelity | bias refresh | s per program | vs spice | max final-state diff vs spice "
               "| energy vs spice |")
    click.echo("|---|---|---|---|---|---|")
    for fidelity, mode, seconds, x, energy in out:
        diff = float(np.max(np.abs(x - ref_x)))
        click.echo(f"| {fidelity} | {mode} | {seconds:.2f} | {seconds / ref_s:.2f}x | {diff:.2e} "
                   f"| {energy / ref_e - 1:+.2%} |")


if __name__ == "__main__":
    main()
