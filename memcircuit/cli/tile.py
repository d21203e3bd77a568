"""``memcircuit tile read|program`` and ``memcircuit plot conductance``: tiles from the shell."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click
import numpy as np

from memcircuit.cli.common import circuit_options, emit_json, ideal_ignores, load_npy, spec_kwargs
from memcircuit.errors import ConfigError


def tile_options(func):
    """Options that describe the physical tile (shared by ``tile`` and ``build`` commands)."""
    func = circuit_options()(func)
    for option in reversed([
        click.option("--rows", type=click.IntRange(min=1), required=True, help="Rows (inputs, driven from the left)."),
        click.option("--cols", type=click.IntRange(min=1), required=True,
                     help="Columns (outputs, sensed at the bottom)."),
    ]):
        func = option(func)
    return func


def _shape(arr: np.ndarray, shape: tuple[int, int], what: str) -> np.ndarray:
    if arr.shape != shape:
        raise ConfigError(f"{what} must have shape {shape}, got {arr.shape}")
    return arr


def _tile(fidelity: str, rows: int, cols: int, g: np.ndarray, device: str | None, r_wire: float, sense: str,
          v_read: float, seed: int, workers: int | None, kwargs: dict):
    from memcircuit.tiles import make_tile

    ideal_ignores(fidelity, r_wire, sense, kwargs)
    extra = {"workers": workers} if workers and fidelity in ("spice", "hybrid") else {}
    return make_tile(fidelity, rows, cols, device=device, g=g, r_wire=r_wire, sense=sense, v_read=v_read,
                     seed=seed, **kwargs, **extra)


@click.group()
def tile() -> None:
    """Read and program crossbar tiles at a chosen fidelity (spice, hybrid, numeric, ideal)."""


@tile.command("read")
@tile_options
@click.option("--conductances", "g_file", required=True, type=click.Path(dir_okay=False),
              help="ROWS x COLS .npy of cell conductances in siemens (physical cells).")
@click.option("--inputs", "v_file", required=True, type=click.Path(dir_okay=False),
              help="BATCH x ROWS .npy of row voltages in volts (BATCH x COLS with --transpose).")
@click.option("--fidelity", type=click.Choice(["spice", "hybrid", "numeric", "ideal"]), default="numeric",
              show_default=True, help="spice/hybrid: ngspice; numeric: own nodal solver; ideal: G^T V.")
@click.option("--transpose", is_flag=True, help="Backward read: drive the columns, sense the rows.")
@click.option("--workers", type=click.IntRange(min=1), help="Parallel ngspice workers (spice, hybrid).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the device model's randomness.")
@click.option("--json", "json_out", metavar="FILE|-", help="Write currents and metadata as JSON ('-' = stdout).")
def read(rows, cols, device, cell, r_wire, sense, r_f, opamp_gain, adc_bits, r_out, v_read, g_file, v_file,
         fidelity, transpose, workers, seed, json_out) -> None:
    """Read a batch of input vectors through a tile.

    Forward (default): row i is driven at V[b, i] from its left end, every column ends in the
    sense amplifier; the result is BATCH x COLS amperes flowing into the column ends (for a
    TIA: the current it reports, -V_out/R_f). With --transpose the columns are driven and the
    rows sensed (backward pass). Without --device the cells are linear resistors.

    \b
    Example (64 x 64, 2.5 ohm per wire segment, checked against ngspice):
      python -c "import numpy as n; r=n.random.default_rng(0); \\
        n.save('G.npy', r.uniform(1e-6,1e-4,(64,64))); n.save('V.npy', r.uniform(-.2,.2,(10,64)))"
      memcircuit tile read --rows 64 --cols 64 --conductances G.npy --inputs V.npy \\
        --r-wire 2.5 --fidelity spice --json out.json
    """
    g = _shape(load_npy(g_file, what="--conductances", ndim=2), (rows, cols), "--conductances")
    v = load_npy(v_file, what="--inputs")
    v = np.atleast_2d(v)
    width = cols if transpose else rows
    if v.ndim != 2 or v.shape[1] != width:
        raise ConfigError(f"--inputs must be BATCH x {width} volts for a {'backward' if transpose else 'forward'} "
                          f"read, got shape {v.shape}")
    kwargs = spec_kwargs(cell, sense, r_f, opamp_gain, adc_bits, r_out)
    start = time.perf_counter()
    with _tile(fidelity, rows, cols, g, device, r_wire, sense, v_read, seed, workers, kwargs) as t:
        currents = t.read_t(v) if transpose else t.read(v)
    seconds = time.perf_counter() - start
    if json_out:
        emit_json({"fidelity": fidelity, "direction": "backward" if transpose else "forward",
                   "rows": rows, "cols": cols, "r_wire": r_wire, "sense": sense, "device": device,
                   "currents": currents, "seconds": seconds}, json_out)
    else:
        click.echo(f"{fidelity} {'backward' if transpose else 'forward'} read: {currents.shape[0]} inputs -> "
                   f"{currents.shape[1]} currents in {seconds:.3f} s")
        with np.printoptions(precision=4, linewidth=110):
            click.echo(np.array2string(currents, formatter={"float_kind": lambda x: f"{x: .4e}"}))


def _load_program(path: str):
    from memcircuit.tiles import PulseProgram

    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"--pulses: file not found: {p}")
    try:
        return PulseProgram.from_json(json.loads(p.read_text()))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--pulses: {p} is not JSON ({exc})") from None
    except ValueError as exc:
        raise ConfigError(f"--pulses: {exc}") from None


@tile.command("program")
@tile_options
@click.option("--conductances", "g_file", required=True, type=click.Path(dir_okay=False),
              help="ROWS x COLS .npy of initial cell conductances in siemens.")
@click.option("--pulses", "pulse_file", required=True, type=click.Path(dir_okay=False),
              help='Pulse program JSON: {"steps": [{"rows": [...V], "cols": [...V], '
                   '"row_widths": s or [...], "col_widths": s or [...]}]}.')
@click.option("--fidelity", type=click.Choice(["spice", "hybrid", "numeric", "ideal"]), default="numeric",
              show_default=True, help="spice: one ngspice transient; hybrid/numeric/ideal: device numeric twin.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the programming noise.")
@click.option("--plot", "plot_out", type=click.Path(dir_okay=False),
              help="Save the driver waveforms (and simulated driver currents at spice fidelity) as PNG.")
@click.option("--json", "json_out", metavar="FILE|-", help="Write conductances before/after and energy as JSON.")
@click.option("--save", "save_out", type=click.Path(dir_okay=False), help="Save the conductances after as .npy.")
def program(rows, cols, device, cell, r_wire, sense, r_f, opamp_gain, adc_bits, r_out, v_read, g_file,
            pulse_file, fidelity, seed, plot_out, json_out, save_out) -> None:
    """Apply a pulse program to a tile of memristors and report what changed.

    Every step fires all row and column drivers together (cell (i, j) sees V_row_i - V_col_j,
    undriven lines sit at 0 V), so V/2 and V/3 half-select schemes and outer-product updates are
    both expressible. Reports conductances before and after (S, at --v-read) and the energy the
    drivers delivered (J), integrated from the simulated currents.

    \b
    Example (V/2 write of cell (1, 2) with 1.4 V for 1 us on a 4 x 4 tile):
      echo '{"steps": [{"rows": [0, 0.7, 0, 0], "cols": [0, 0, -0.7, 0],
             "row_widths": 1e-6, "col_widths": 1e-6}]}' > p.json
      memcircuit tile program --rows 4 --cols 4 --device MODEL --conductances G.npy \\
        --pulses p.json --fidelity spice --plot pulses.png --json -
    """
    if device is None:
        raise ConfigError("programming needs memristor cells: add --device MODEL (see memcircuit models list)")
    g = _shape(load_npy(g_file, what="--conductances", ndim=2), (rows, cols), "--conductances")
    prog = _load_program(pulse_file)
    kwargs = spec_kwargs(cell, sense, r_f, opamp_gain, adc_bits, r_out)
    start = time.perf_counter()
    with _tile(fidelity, rows, cols, g, device, r_wire, sense, v_read, seed, None, kwargs) as t:
        report = t.program(prog)
    seconds = time.perf_counter() - start
    if plot_out:
        _plot_program(prog, report, t.spec, plot_out)
    if save_out:
        np.save(save_out, report.g_after)
    summary = {"fidelity": fidelity, "device": device, "pulses": report.pulses, "energy_j": report.energy_j,
               "g_before": report.g_before, "g_after": report.g_after,
               "max_abs_change_s": float(np.max(np.abs(report.g_after - report.g_before))), "seconds": seconds}
    if json_out:
        emit_json(summary, json_out)
    else:
        click.echo(f"{fidelity}: {report.pulses} driver pulses, energy {report.energy_j:.4g} J, "
                   f"largest conductance change {summary['max_abs_change_s']:.4g} S ({seconds:.2f} s)")


def _plot_program(prog, report, spec, path: str) -> None:
    from memcircuit.circuits.drivers import pulse_waveforms
    from memcircuit.circuits.netlists import program_drivers
    from memcircuit.plot import save_figure
    from memcircuit.plot.tile import plot_pulse_waveforms

    result = report.extra.get("result")
    driven = sorted({("row", i) for s in prog.steps for i in np.flatnonzero(s.rows)}
                    | {("col", j) for s in prog.steps for j in np.flatnonzero(s.cols)})[:8]
    if result is not None:  # spice: the simulated waveforms
        t = result.time
        volts, amps = {}, {}
        nodes = {label: node for label, _, node in program_drivers(spec)}
        for kind, k in driven:
            volts[f"{kind} {k}"] = result[f"v({nodes[f'{kind}{k}']})"]
            amps[f"{kind} {k}"] = -result[f"i(v{kind}{k})"]
        ax = plot_pulse_waveforms(t, volts, amps, title="Programming pulses (ngspice transient)")
    else:  # numeric twins: the driver waveforms the program asks for
        row_w, col_w, starts = pulse_waveforms(prog.steps, spec.rows, spec.cols)
        t = np.linspace(0.0, float(starts[-1]), 4000)
        volts = {}
        for kind, k in driven:
            pts = np.array((row_w if kind == "row" else col_w)[k].points)
            volts[f"{kind} {k}"] = np.interp(t, pts[:, 0], pts[:, 1])
        ax = plot_pulse_waveforms(t, volts, None, title="Programming pulses (driver waveforms)")
    save_figure(ax, path)


@click.command("conductance")
@click.argument("g_file", type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="PNG file to write.")
@click.option("--log", is_flag=True, help="Logarithmic colour scale.")
@click.option("--title", default="Tile conductances", show_default=True, help="Figure title.")
def conductance(g_file, output, log, title) -> None:
    """Heat map of a tile's conductances from a ROWS x COLS .npy (siemens).

    \b
    Example:
      memcircuit tile program ... --save after.npy
      memcircuit plot conductance after.npy -o after.png
    """
    from memcircuit.plot import save_figure
    from memcircuit.plot.tile import plot_conductance

    g = load_npy(g_file, what="conductance file", ndim=2)
    save_figure(plot_conductance(g, log=log, title=title), output)
    click.echo(f"wrote {output}")


def register(cli: click.Group) -> None:
    cli.add_command(tile)
    if "plot" in cli.commands:
        cli.commands["plot"].add_command(conductance, "conductance")

