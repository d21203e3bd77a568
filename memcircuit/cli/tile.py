"""``memcircuit tile read|program`` and ``memcircuit plot conductance``: tiles from the shell."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path

import click
import numpy as np

from memcircuit.cli.common import (
    SIFloat,
    check_output,
    circuit_options,
    emit_json,
    fidelity_choice,
    load_npy,
    periphery_from_cli,
    tile_config_from_cli,
    warn,
)
from memcircuit.errors import ConfigError
from memcircuit.fidelity import NGSPICE_FIDELITIES
from memcircuit.spice.engine import DEFAULT_TIMEOUT
from memcircuit.units import format_si


def tile_options(func):
    """Options that describe the physical tile (shared by ``tile`` and ``build`` commands)."""
    func = circuit_options(device_params=True)(func)
    for option in reversed([
        click.option("--rows", type=click.IntRange(min=1), required=True, help="Rows (inputs, driven from the left)."),
        click.option("--cols", type=click.IntRange(min=1), required=True,
                     help="Columns (outputs, sensed at the bottom)."),
    ]):
        func = option(func)
    return func


def check_tile_memory(rows: int, cols: int, cell: str, fidelity: str | None = None, workers: int | None = None) -> None:
    """Refuse a tile larger than this machine's memory before anything is loaded or built."""
    from memcircuit.resources import check_memory, crossbar_bytes

    engines = (workers or 1) if fidelity in NGSPICE_FIDELITIES else 0
    check_memory(crossbar_bytes(rows, cols, cell=cell, engines=engines), f"a {rows} x {cols} {cell} crossbar")


def _shape(arr: np.ndarray, shape: tuple[int, int], what: str) -> np.ndarray:
    if arr.shape != shape:
        raise ConfigError(f"{what} must have shape {shape}, got {arr.shape}")
    return arr


@click.group()
def tile() -> None:
    """Read and program crossbar tiles at a chosen fidelity (spice, hybrid, numeric, ideal)."""


@tile.command("read")
@tile_options
@click.option("--conductances", "g_file", required=True, type=click.Path(dir_okay=False),
              help="ROWS x COLS .npy of cell conductances in siemens (physical cells).")
@click.option("--inputs", "v_file", required=True, type=click.Path(dir_okay=False),
              help="BATCH x ROWS .npy of row voltages in volts (BATCH x COLS with --transpose).")
@click.option("--fidelity", type=fidelity_choice, default="numeric",
              show_default=True, help="spice/hybrid: ngspice; numeric: own nodal solver; ideal: G^T V.")
@click.option("--transpose", is_flag=True, help="Backward read: drive the columns, sense the rows.")
@click.option("--workers", type=click.IntRange(min=1), help="Parallel ngspice workers (spice, hybrid).")
@click.option("--timeout", type=SIFloat(positive=True), default=DEFAULT_TIMEOUT, show_default=True,
              help="Seconds one ngspice run may take before it is killed (spice, hybrid).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the device model's randomness.")
@click.option("--json", "json_out", metavar="FILE|-", help="Write currents and metadata as JSON ('-' = stdout).")
def read(rows, cols, device, cell, r_wire, r_wire_row, r_wire_col, v_read, g_file, v_file,
         fidelity, transpose, workers, timeout, seed, json_out, **options) -> None:
    """Read a batch of input vectors through a tile.

    Forward (default): row i is driven at V[b, i] from its left end, every column ends in the
    sense amplifier; the result is BATCH x COLS amperes flowing into the column ends (for a
    TIA: the current it reports, -V_out/R_f). With --transpose the columns are driven and the
    rows sensed (backward pass). Without --device the cells are linear resistors. --input-bits
    (--error-bits with --transpose) rounds the inputs to a DAC spanning +-max|V|.

    \b
    Example (64 x 64, 2.5 ohm per wire segment, checked against ngspice):
      python -c "import numpy as n; r=n.random.default_rng(0); \\
        n.save('G.npy', r.uniform(1e-6,1e-4,(64,64))); n.save('V.npy', r.uniform(-.2,.2,(10,64)))"
      memcircuit tile read --rows 64 --cols 64 --conductances G.npy --inputs V.npy \\
        --r-wire 2.5 --fidelity spice --json out.json
    """
    check_tile_memory(rows, cols, cell, fidelity, workers)
    check_output(json_out, "--json")
    g = _shape(load_npy(g_file, what="--conductances", ndim=2), (rows, cols), "--conductances")
    v = load_npy(v_file, what="--inputs")
    width = cols if transpose else rows
    if v.ndim != 2 or v.shape[1] != width or not v.shape[0]:
        raise ConfigError(f"--inputs must be BATCH x {width} volts (BATCH >= 1) for a "
                          f"{'backward' if transpose else 'forward'} read, got shape {v.shape}")
    v_max = float(np.max(np.abs(v)))
    _warn_read_disturb(device, max(v_max, v_read))
    periphery = periphery_from_cli(fidelity, options)
    config = tile_config_from_cli(fidelity, rows, cols, device=device, cell=cell, r_wire=r_wire, r_wire_row=r_wire_row,
                                  r_wire_col=r_wire_col, v_read=v_read, periphery=periphery,
                                  dac_full_scale=v_max or v_read, backward=transpose, workers=workers, timeout=timeout)
    from memcircuit.tiles import make_tile_from

    start = time.perf_counter()
    with make_tile_from(config, g=g, seed=seed) as t:
        currents = t.read_t(v) if transpose else t.read(v)
    seconds = time.perf_counter() - start
    if t.spec.sense == "tia":   # a TIA output at its rail reports the rail, not the current
        opamp = t.spec.tia.opamp
        rail = min(abs(opamp.v_low), abs(opamp.v_high)) / t.spec.tia.r_f
        clipped = int(np.sum(np.abs(currents) >= 0.99 * rail))
        if clipped:
            warn(f"{clipped} of {currents.size} TIA outputs sit at their output swing (currents clipped near "
                 f"{format_si(rail, 'A')}): lower --r-f or the inputs, or widen --opamp-swing")
    if json_out:
        emit_json({"fidelity": fidelity, "direction": "backward" if transpose else "forward",
                   "rows": rows, "cols": cols, "r_wire": r_wire, "r_wire_row": t.spec.wire_row,
                   "r_wire_col": t.spec.wire_col, "device": device, **asdict(periphery),
                   "currents": currents, "read_path": t.read_info.get("path"), "seconds": seconds}, json_out)
    else:
        click.echo(f"{fidelity} {'backward' if transpose else 'forward'} read: {currents.shape[0]} inputs -> "
                   f"{currents.shape[1]} currents in {seconds:.3f} s")
        with np.printoptions(precision=4, linewidth=110):
            click.echo(np.array2string(currents, formatter={"float_kind": lambda x: f"{x: .4e}"}))


# A pulse this many times longer than a full sweep of the conductance range is surely a unit slip.
_SWEEPS = 100.0
_BARELY = 1e-3  # of the state range: a program that moves a cell less barely programs


def _threshold(model) -> float | None:
    """The device model's switching threshold (V), None when it has no conductance range to probe."""
    from memcircuit.devices.analysis import switching_threshold

    try:
        return switching_threshold(model)
    except ConfigError:
        return None


def _warn_read_disturb(device: str | None, v_max: float) -> None:
    """Warn when reads reach the device's switching threshold (they would program the cells)."""
    if device is None:
        return
    from memcircuit.tiles import resolve_device

    v_th = _threshold(resolve_device(device))
    if v_th is not None and v_max >= v_th:
        warn(f"reads reach {format_si(v_max, 'V')}, above the switching threshold of {device} (about "
             f"{format_si(v_th, 'V')}): on a real crossbar they would move the cells (reads here hold the states)")


def _warn_program_range(prog, device: str) -> None:
    """Warn when a program's cell voltages or pulse lengths are far outside what ``device`` needs."""
    from memcircuit.devices.analysis import V_LIMIT, mid_state_rate
    from memcircuit.tiles import resolve_device

    v_cell = max(float(np.max(np.abs(np.subtract.outer(s.rows, s.cols)))) for s in prog.steps)
    width = max(float(max(np.max(s.row_widths), np.max(s.col_widths))) for s in prog.steps)
    model = resolve_device(device)
    v_th = _threshold(model)
    if v_th is None:
        return
    if v_cell > V_LIMIT:
        warn(f"--pulses: cells see up to {format_si(v_cell, 'V')}, above the {V_LIMIT:g} V up to which "
             f"devices are calibrated ({device}: threshold about {format_si(v_th, 'V')})")
        return
    # what the strongest pulse does at mid state, not the voltage alone: a steep device (VTEAM's
    # power law) moves fast well below the amplitude at which its rate reaches 1e-3 of the top
    rate = float(mid_state_rate(model, np.array([v_cell]))[0])
    sweep = (model.x_max - model.x_min) / rate if rate > 0 else float("inf")
    if width < _BARELY * sweep:
        warn(f"--pulses: the strongest pulse ({format_si(v_cell, 'V')} across a cell for at most "
             f"{format_si(width, 's')}) moves {device} by less than {_BARELY:.1%} of its state range (switching "
             f"threshold about {format_si(v_th, 'V')}): the program barely moves the cells")
    elif width > _SWEEPS * sweep:
        warn(f"--pulses: pulses up to {format_si(width, 's')} are {width / sweep:.3g} times the "
             f"{format_si(sweep, 's')} in which {format_si(v_cell, 'V')} sweeps {device}'s whole state range")


def _load_program(path: str):
    from memcircuit.tiles import PulseProgram

    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"--pulses: file not found: {p}")
    try:
        prog = PulseProgram.from_json(json.loads(p.read_text()))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--pulses: {p} is not JSON ({exc})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"--pulses: {p} is not a JSON text file (a pulse program is JSON, see --help)") from None
    except ValueError as exc:
        raise ConfigError(f"--pulses: {exc}") from None
    if not prog.steps:
        raise ConfigError(f"--pulses: {p} has no steps; nothing to program")
    return prog


@tile.command("program")
@tile_options
@click.option("--conductances", "g_file", required=True, type=click.Path(dir_okay=False),
              help="ROWS x COLS .npy of initial cell conductances in siemens.")
@click.option("--pulses", "pulse_file", required=True, type=click.Path(dir_okay=False),
              help='Pulse program JSON: {"steps": [{"rows": [...V], "cols": [...V], '
                   '"row_widths": s or [...], "col_widths": s or [...]}]}.')
@click.option("--fidelity", type=fidelity_choice, default="numeric",
              show_default=True, help="spice: one ngspice transient; hybrid/numeric/ideal: device numeric twin.")
@click.option("--timeout", type=SIFloat(positive=True), default=DEFAULT_TIMEOUT, show_default=True,
              help="Seconds one ngspice run may take before it is killed (spice, hybrid).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the programming noise.")
@click.option("--plot", "plot_out", type=click.Path(dir_okay=False),
              help="Save the driver waveforms (and simulated driver currents at spice fidelity) as PNG.")
@click.option("--json", "json_out", metavar="FILE|-", help="Write conductances before/after and energy as JSON.")
@click.option("--save", "save_out", type=click.Path(dir_okay=False), help="Save the conductances after as .npy.")
def program(rows, cols, device, cell, r_wire, r_wire_row, r_wire_col, v_read, g_file,
            pulse_file, fidelity, timeout, seed, plot_out, json_out, save_out, **options) -> None:
    """Apply a pulse program to a tile of memristors and report what changed.

    Every step fires all row and column drivers together (cell (i, j) sees V_row_i - V_col_j,
    undriven lines sit at 0 V), so V/2 and V/3 half-select schemes and outer-product updates are
    both expressible. Reports conductances before and after (S, at --v-read) and the energy the
    drivers delivered (J), integrated from the simulated currents. Programs whose cell voltages
    stay below the device's switching threshold or exceed 5 V, or whose pulses are far longer than
    a full sweep of the conductance range, get a warning line.

    \b
    Example (V/2 write of cell (1, 2) with 1 V for 1 us on a 4 x 4 tile of exp-pulse cells: the
    half-selected cells of row 1 and column 2 see 0.5 V, below the device's 0.6 V threshold, and
    move by less than 0.1 % of the selected cell's change; at 1.4 V they would see 0.7 V and move
    by about 15 %):
      echo '{"steps": [{"rows": [0, 0.5, 0, 0], "cols": [0, 0, -0.5, 0],
             "row_widths": 1e-6, "col_widths": 1e-6}]}' > p.json
      memcircuit tile program --rows 4 --cols 4 --device exp-pulse --conductances G.npy \\
        --pulses p.json --fidelity spice --plot pulses.png --json -
    """
    if device is None:
        raise ConfigError("programming needs memristor cells: add --device MODEL (see memcircuit models list)")
    check_tile_memory(rows, cols, cell, fidelity)
    check_output(json_out, "--json")   # --plot and --save are click paths that refuse folders already
    g = _shape(load_npy(g_file, what="--conductances", ndim=2), (rows, cols), "--conductances")
    prog = _load_program(pulse_file)
    from memcircuit.tiles.programming import check_shape

    try:                                     # the whole input is checked before any warning or work
        check_shape(prog, rows, cols)
    except ConfigError as exc:
        raise ConfigError(f"--pulses: {exc}") from None
    _warn_program_range(prog, device)
    config = tile_config_from_cli(fidelity, rows, cols, device=device, cell=cell, r_wire=r_wire, r_wire_row=r_wire_row,
                                  r_wire_col=r_wire_col, v_read=v_read, periphery=periphery_from_cli(fidelity, options),
                                  timeout=timeout)
    from memcircuit.tiles import make_tile_from

    start = time.perf_counter()
    with make_tile_from(config, g=g, seed=seed) as t:
        report = t.program(prog)
    seconds = time.perf_counter() - start
    if plot_out:
        _plot_program(prog, report, t.spec, plot_out)
    if save_out:
        np.save(save_out, report.g_after)
    summary = {"fidelity": fidelity, "device": device, "pulses": report.pulses, "energy_j": report.energy_j,
               "energy_parts_j": report.energy_parts, "g_before": report.g_before, "g_after": report.g_after,
               "max_abs_change_s": float(np.max(np.abs(report.g_after - report.g_before))),
               "programmer": t.programmer.name,
               "bias_refresh": t.bias_refresh if t.programmer.name == "twin" else None, "seconds": seconds}
    if json_out:
        emit_json(summary, json_out)
    else:
        from memcircuit.units import format_si

        parts = ", ".join(f"{name} {format_si(j, 'J')}" for name, j in report.energy_parts.items())
        click.echo(f"{fidelity}: {report.pulses} driver pulses, energy {format_si(report.energy_j, 'J')}"
                   + (f" ({parts})" if parts else "")
                   + f", largest conductance change {format_si(summary['max_abs_change_s'], 'S')} ({seconds:.2f} s)")


def _plot_program(prog, report, spec, path: str) -> None:
    from memcircuit.circuits.drivers import pulse_waveforms
    from memcircuit.circuits.netlists import driver_probes
    from memcircuit.plot import save_figure
    from memcircuit.plot.tile import plot_pulse_waveforms

    result = report.extra.get("result")
    driven = sorted({("row", i) for s in prog.steps for i in np.flatnonzero(s.rows)}
                    | {("col", j) for s in prog.steps for j in np.flatnonzero(s.cols)})[:8]
    if result is not None:  # spice: the simulated waveforms
        t = result.time
        volts, amps = {}, {}
        probes = driver_probes(spec)  # rows, then columns
        for kind, k in driven:
            voltage, current = probes[k if kind == "row" else spec.rows + k]
            volts[f"{kind} {k}"] = result[voltage]
            amps[f"{kind} {k}"] = -result[current]
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

