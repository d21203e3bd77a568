"""``memcircuit models list|iv|pulses|check|fit`` and ``memcircuit plot iv``: memristor models from the shell."""

from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np

from memcircuit.cli.common import SIFloat, emit_json
from memcircuit.errors import ConfigError
from memcircuit.units import format_si

FORM_CHOICES = click.Choice(["behavioural", "va", "numeric"])


def _overrides(params: tuple[str, ...]) -> dict[str, str]:
    """``--param NAME=VALUE`` options as a dict."""
    overrides = {}
    for item in params:
        if "=" not in item:
            raise ConfigError(f"--param takes NAME=VALUE (e.g. --param r_off=20k), got {item!r}")
        key, value = item.split("=", 1)
        overrides[key.strip()] = value.strip()
    return overrides


def _device(model: str, params: tuple[str, ...]):
    """The device ``model`` (a family, a preset or a device .json) with ``--param k=v``
    overrides (ConfigError names valid ones)."""
    from memcircuit.devices import get_device

    return get_device(model, **_overrides(params))


def _x0(model: str, device, x0: float | None) -> float:
    from memcircuit.devices import default_x0

    value = x0 if x0 is not None else default_x0(model)
    value = device.demo[2] if value is None else value
    if not device.x_min <= value <= device.x_max:
        raise ConfigError(f"--x0 must lie in [{device.x_min}, {device.x_max}], got {value}")
    return float(value)


@click.group()
def models() -> None:
    """Memristor device models: list them, sweep their I-V loop, apply pulse trains, check your
    own Verilog-A model, turn measured pulse data into a device.

    Every model exists in three forms that agree with each other: a behavioural ngspice
    subcircuit, a Verilog-A module compiled with OpenVAF and loaded through OSDI, and a numeric
    twin (numpy). Models are families (e.g. exp-pulse) or published presets (e.g. strukov-2008).
    """


@models.command("list")
@click.option("--json", "json_out", metavar="FILE|-", help="Write families, parameters and presets as JSON.")
def list_models(json_out: str | None) -> None:
    """List model families with their parameters (units, defaults) and the presets.

    \b
    Example:
      memcircuit models list
      memcircuit models list --json - | jq '.families[0].parameters'
    """
    from memcircuit.devices import DEVICES, PRESETS, user_device_dir, user_devices

    families = [cls().describe() for cls in DEVICES.values()]
    presets = [{"name": k, "family": p.family, "values": p.values, "source": p.source} for k, p in PRESETS.items()]
    users = user_devices()
    if json_out is not None:
        emit_json({"families": families, "presets": presets, "user_devices": users}, json_out)
        if json_out == "-":
            return
    for fam in families:
        variants = "".join(f"  [{k}: {' | '.join(v)}]" for k, v in fam.get("variants", {}).items())
        click.echo(f"{fam['name']:14s} {fam['source']}{variants}")
        for p in fam["parameters"]:
            unit = f" {p['unit']}" if p["unit"] else ""
            click.echo(f"    {p['name']:11s} = {p['default']!s:>10}{unit:12s} {p['doc']}")
    click.echo("\npresets:")
    for p in presets:
        click.echo(f"  {p['name']:20s} ({p['family']}) {p['source']}")
    click.echo(f"\nuser devices in {user_device_dir()} (--device PATH.json):")
    for u in users:
        error = u["max_error_of_range"]
        accuracy = f", twin within {100 * error:.2g} % of the range vs ngspice" if error is not None else ""
        click.echo(f"  {u['path']} ({u['family']}) {u['source']}{accuracy}")
    if not users:
        click.echo("  none (memcircuit models characterize PATH.va saves twins there)")


def _common(func):
    options = [
        click.argument("model"),
        click.option("--form", type=FORM_CHOICES, default="behavioural", show_default=True,
                     help="behavioural: ngspice B-source subcircuit; va: Verilog-A through OSDI (needs OpenVAF); "
                          "numeric: the numpy twin (iv only; pulses always report the twin beside ngspice). "
                          "MODEL may be your own PATH.va (runs as va) or a twin .json from models characterize."),
        click.option("--param", "params", multiple=True, metavar="NAME=VALUE",
                     help="Override a model parameter (repeatable), SI prefixes allowed: --param r_off=20k."),
        click.option("--x0", type=float, default=None, help="Initial state in [0, 1] (default: the model's)."),
        click.option("--json", "json_out", metavar="FILE|-", help="Write the result as JSON ('-' for stdout)."),
        click.option("--plot", "plot_file", type=click.Path(dir_okay=False), help="Write a PNG figure."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@models.command("iv")
@_common
@click.option("--amp", type=SIFloat(positive=True), default=None, help="Sine amplitude, V (default: the model's).")
@click.option("--freq", type=SIFloat(positive=True), default=None, help="Sine frequency, Hz (default: the model's).")
@click.option("--cycles", type=click.FloatRange(min=0.25, max=200), default=2.0, show_default=True,
              help="Number of sine periods.")
@click.option("--points", type=click.IntRange(min=50, max=1_000_000), default=1000, show_default=True,
              help="Output points per period.")
def iv(model, form, params, x0, json_out, plot_file, amp, freq, cycles, points) -> None:
    """Sweep MODEL with a sine and report the pinched I-V loop.

    The JSON holds arrays time (s), v (V), i (A), x (state) and the areas of the positive and
    negative lobes (W); a memristor's lobes shrink as the frequency rises (threshold models
    such as VTEAM first grow while the drive is still slower than their switching). The plot
    shows the loop and the state over time.

    \b
    Examples:
      memcircuit models iv strukov-2008 --plot hp.png
      memcircuit models iv vteam --form va --amp 1 --freq 50meg --json vteam.json
      memcircuit models iv exp-pulse --param a_ltp=0.2 --freq 200k --json -
    """
    from memcircuit.devices.analysis import lobe_areas
    from memcircuit.devices.simulate import simulate
    from memcircuit.netlist import Sine

    device = _device(model, params)
    if getattr(device, "va_only", False) and form == "behavioural":   # a user's model has one circuit form
        form = "va"
    d_amp, d_freq, _ = device.demo
    amp = d_amp if amp is None else amp
    freq = d_freq if freq is None else freq
    start = _x0(model, device, x0)
    record = simulate(device, Sine(0.0, amp, freq), cycles / freq, start, form=form, points=int(points * cycles))
    pos, neg = lobe_areas(record["v"], record["i"])
    click.echo(f"{model} ({form}): {format_si(amp, 'V')}, {format_si(freq, 'Hz')}, {cycles:g} cycles; "
               f"state {record['x'].min():.4f} .. "
               f"{record['x'].max():.4f}; lobe areas +{pos:.4g} W / -{neg:.4g} W", err=json_out == "-")
    data = {"model": model, "family": device.name, "form": form, "amp": amp, "freq": freq, "cycles": cycles,
            "x0": start, "params": {p["name"]: p["default"] for p in device.params.describe()},
            "lobe_area_pos": pos, "lobe_area_neg": neg, **record}
    emit_json(data, json_out)
    if plot_file:
        from memcircuit.plot import save_figure
        from memcircuit.plot.device import plot_iv_record

        save_figure(plot_iv_record(record, title=f"{model} ({form})"), plot_file)
        click.echo(f"wrote {plot_file}", err=json_out == "-")


@models.command("pulses")
@_common
@click.option("--n", "n_pulses", type=click.IntRange(1, 5000), required=True, help="Number of pulses.")
@click.option("--amp", type=SIFloat(positive=True), required=True, help="Pulse amplitude, V (magnitude).")
@click.option("--width", type=SIFloat(positive=True), required=True, help="Pulse width (flat top), s.")
@click.option("--polarity", type=click.Choice(["+", "-"]), default="+", show_default=True,
              help="Sign of the pulses (+: the device's positive terminal high).")
@click.option("--gap", type=SIFloat(positive=True), default=None, help="0 V time between pulses, s (default: width).")
@click.option("--edge", type=SIFloat(positive=True), default=None, help="Rise and fall time, s (default: width/50).")
@click.option("--v-read", type=SIFloat(positive=True), default=0.1, show_default=True,
              help="Voltage at which the conductance I/V is reported, V.")
def pulses(model, form, params, x0, json_out, plot_file, n_pulses, amp, width, polarity, gap, edge, v_read) -> None:
    """Apply a train of N rectangular pulses to MODEL and report the conductance after each.

    The train is simulated in ngspice (behavioural or Verilog-A form) as one transient; the
    state is read in the middle of each gap and turned into the chord conductance I/V at
    --v-read. The JSON also holds the numeric twin's prediction (apply_pulse, pulse by pulse),
    so the forms can be compared. Pulse models (exp-pulse, discrete, lr-cell) move by one
    standard pulse for --amp v_pulse and --width t_pulse (see memcircuit models list). Without
    --x0 the train starts at the state bound it moves away from (0 for +, 1 for -), or 1 % of
    the range inside it when the bound is a fixed point (the Joglekar window vanishes there).

    \b
    Examples:
      memcircuit models pulses exp-pulse --n 100 --amp 1 --width 100n --plot ltp.png
      memcircuit models pulses exp-pulse --n 100 --amp 1 --width 100n --polarity - --x0 1 --json -
      memcircuit models pulses vteam --n 20 --amp 0.5 --width 2n --form va
    """
    from memcircuit.devices.analysis import pulse_train_wave
    from memcircuit.devices.simulate import simulate
    from memcircuit.netlist import Pwl

    if form == "numeric":
        raise ConfigError("pulses are simulated in ngspice: use --form behavioural or --form va "
                          "(the JSON always carries the numeric twin's prediction)")
    device = _device(model, params)
    if getattr(device, "va_only", False) and form == "behavioural":   # a user's model has one circuit form
        form = "va"
    sign = 1.0 if polarity == "+" else -1.0
    # positive pulses raise the state in every family: start from the bound they move away from,
    # or 1 % of the range inside it where the bound is a fixed point (a window function that
    # vanishes there, as Joglekar's does)
    twin_form = not getattr(device, "va_only", False)   # a user's Verilog-A model has no twin until characterized
    if x0 is None and not twin_form:
        x0 = device.x_min if sign > 0 else device.x_max
    if x0 is None:
        bound = device.x_min if sign > 0 else device.x_max
        inside = bound + 0.01 * sign * (device.x_max - device.x_min)
        at_bound = abs(float(np.ravel(device.dxdt(np.array([sign * amp]), np.array([bound])))[0]))
        near = abs(float(np.ravel(device.dxdt(np.array([sign * amp]), np.array([inside])))[0]))
        x0 = inside if at_bound < 1e-6 * near else bound
    start = _x0(model, device, x0)
    points, reads, stop = pulse_train_wave(n_pulses, sign * amp, width, gap=gap, edge=edge)
    record = simulate(device, Pwl(points), stop, start, form=form, points=max(2000, 40 * n_pulses))
    x = np.r_[start, np.interp(reads, record["time"], record["x"])]
    twin = [np.array([start])]
    for _ in range(n_pulses if twin_form else 0):
        twin.append(device.apply_pulse(twin[-1], sign * amp, width))
    x_twin = np.concatenate(twin) if twin_form else None
    g = device.conductance(x, v_read)
    g_twin = device.conductance(x_twin, v_read) if twin_form else None
    click.echo(f"{model} ({form}): {n_pulses} pulses of {format_si(sign * amp, 'V')} x {format_si(width, 's')}; "
               "conductance "
               f"{g[0]:.4g} -> {g[-1]:.4g} S" + (f" (numeric twin {g_twin[-1]:.4g} S)" if twin_form else ""),
               err=json_out == "-")
    emit_json({"model": model, "family": device.name, "form": form, "n": n_pulses, "amp": sign * amp,
               "width": width, "v_read": v_read, "x0": start, "pulse": np.arange(n_pulses + 1),
               "x": x, "conductance": g, "x_numeric": x_twin, "conductance_numeric": g_twin}, json_out)
    if plot_file:
        from memcircuit.plot import save_figure
        from memcircuit.plot.device import plot_pulse_response

        ax = plot_pulse_response(g, reference=g_twin, title=f"{model}: {format_si(sign * amp, 'V')}, "
                                                            f"{format_si(width, 's')} pulses ({form})")
        save_figure(ax, plot_file)
        click.echo(f"wrote {plot_file}", err=json_out == "-")


@models.command("characterize")
@click.argument("source", metavar="PATH.va", type=click.Path(dir_okay=False))
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE",
              help="A module parameter (repeatable), SI prefixes allowed: --param Roff=40k.")
@click.option("--module", help="The module, when the file holds several.")
@click.option("--state-node", help="The internal node holding the state offset (default: found by name).")
@click.option("--state-param", help="The instance parameter starting the state (default: found by name).")
@click.option("--v-max", type=SIFloat(positive=True), default=2.0, show_default=True,
              help="Largest voltage tabulated (V, both polarities); pulses and bias points beyond it are clipped.")
@click.option("--v-read", type=SIFloat(positive=True), default=0.1, show_default=True,
              help="Read voltage of the conductance trajectory (V).")
@click.option("--pulses", "n_pulses", type=click.IntRange(min=1, max=10_000), default=100, show_default=True,
              help="Set pulses, then as many reset pulses, in the accuracy check.")
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="Twin JSON to write (default: <user device dir>/<file stem>.json; see models list).")
@click.option("--json", "json_out", metavar="FILE|-", help="Write the accuracy report as JSON ('-' for stdout).")
@click.option("--plot", "plot_file", type=click.Path(dir_okay=False),
              help="PNG of the accuracy check: conductance per pulse, ngspice and the twin.")
def characterize(source, params, module, state_node, state_param, v_max, v_read, n_pulses, output,
                 json_out, plot_file) -> None:
    """Build a numeric twin of a Verilog-A memristor model from ngspice simulations.

    The model is checked (as models check) and compiled; 1 ps transients of the compiled module
    measure the current I(x, V) and the state rate dx/dt(x, V) on a grid that resolves the
    state's bounds and the switching thresholds, which are found by simulation first (the
    bounds: where a long pulse of +-V_MAX leaves the state). The twin interpolates those tables
    and runs at numeric, ideal and hybrid (--device twin.json); at spice it runs as PATH.va
    again (its SHA-256 is stored and checked). Accuracy, printed and stored in the JSON: the
    conductance after each of 100 set and 100 reset pulses, ngspice vs the twin, as a fraction
    of the conductance range.

    \b
    Examples:
      memcircuit models characterize examples/devices/taox_filament.va -o taox.json --plot taox.png
      memcircuit models characterize models/vteam.va --module mc_vteam_linear --v-max 1
    """
    from memcircuit.cli.common import check_output
    from memcircuit.devices import save_device, user_device_dir
    from memcircuit.devices.tabulated import characterize as build_twin
    from memcircuit.devices.vamodel import VaDevice

    check_output(output, "--output")
    check_output(json_out, "--json")
    check_output(plot_file, "--plot")
    device = VaDevice(source, _overrides(params), module=module, state_node=state_node, state_param=state_param)
    twin = build_twin(device, v_max=v_max, v_read=v_read, n_pulses=n_pulses)
    target = Path(output) if output else user_device_dir() / f"{Path(source).stem}.json"
    save_device(twin, target, source=f"characterized from {source} (memcircuit models characterize)")
    info, acc = twin.info, twin.info["accuracy"]

    def echo(text: str) -> None:
        click.echo(text, err=json_out == "-")

    echo(f"{source} ({device.module}): state {info['state_range'][0]:.4g} .. {info['state_range'][1]:.4g} on node "
         f"{device.state_node}, started by {device.state_param}; thresholds {format_si(info['threshold_v'][0], 'V')} / "
         f"{format_si(info['threshold_v'][1], 'V')}; read conductance "
         f"{format_si(info['read_conductance_s'][0], 'S')} .. {format_si(info['read_conductance_s'][1], 'S')} "
         f"at {format_si(v_read, 'V')}")
    echo(f"accuracy: {n_pulses} pulses of {format_si(acc['amplitudes_v'][0], 'V')} then {n_pulses} of "
         f"{format_si(acc['amplitudes_v'][1], 'V')}, {format_si(acc['width_s'], 's')} each: twin vs ngspice within "
         f"{100 * acc['max_error_of_range']:.3g} % of the conductance range at every pulse")
    echo(f"wrote {target} ({twin.xs.size} x {twin.vs.size} grid)")
    emit_json({"source": source, "module": device.module, "twin": str(target), **{k: v for k, v in info.items()}},
              json_out)
    if plot_file:
        from memcircuit.plot import save_figure
        from memcircuit.plot.device import plot_pulse_response

        ax = plot_pulse_response(acc["conductance_spice_s"], reference=acc["conductance_twin_s"],
                                 title=f"{Path(source).name}: {n_pulses} pulses of "
                                       f"{format_si(acc['amplitudes_v'][0], 'V')}, then of "
                                       f"{format_si(acc['amplitudes_v'][1], 'V')}")
        save_figure(ax, plot_file)
        echo(f"wrote {plot_file}")


@models.command("check")
@click.argument("sources", nargs=-1, required=True, metavar="PATH.va...")
@click.option("--json", "json_out", metavar="FILE|-", help="Write the findings as JSON ('-' for stdout).")
@click.option("--no-compile", is_flag=True, help="Only scan the source; run neither OpenVAF nor ngspice.")
@click.option("--no-simulate", is_flag=True, help="Compile but do not solve the operating point in ngspice.")
def check(sources: tuple[str, ...], json_out: str | None, no_compile: bool, no_simulate: bool) -> None:
    """Check Verilog-A memristor models before they are simulated; exit code 2 on any error.

    Every construct that OpenVAF or ngspice cannot run faithfully is one line
    `PATH:LINE: error|warning: message`: a state integrated by hand (with $abstime, or any
    variable kept between time steps; OpenVAF runs @(initial_step) at every evaluation, so a
    state set there and updated from itself restarts each time), $rdist_*, $dist_*,
    $random, transition, slew, laplace_*, zi_*, absdelay (a silent pass-through in OpenVAF), a
    missing state (no ddt) or one that cannot be read back (ddt only on the terminals, idt into
    a variable), anything but two electrical terminals, includes from outside the model's
    folder. Hard `if` clipping of the state is a warning with the smooth alternative. A model
    without errors is then compiled with OpenVAF (cached by source hash) and a compile error is
    reported with OpenVAF's message and line; a compiled model is loaded into ngspice for one
    operating point at 0.1 V (finite current, state node visible as <instance>#<node>). A
    well-posed model keeps its state on an internal node with a tiny DC leak:
    `I(st) <+ ddt(V(st)) - dxdt + 1e-15*V(st);` (see models/*.va).

    \b
    Examples:
      memcircuit models check my_device.va
      memcircuit models check models/*.va --json -
    """
    from memcircuit.devices.vacheck import check_va

    reports = [check_va(src, compile=not no_compile, simulate=not no_simulate) for src in sources]
    quiet = json_out == "-"
    for report in reports:
        for finding in report.findings:
            click.echo(finding.format(), err=quiet)
        click.echo(report.summary(), err=quiet)
    emit_json({"ok": all(r.ok for r in reports), "models": [r.to_json() for r in reports]}, json_out)
    if not all(r.ok for r in reports):
        click.get_current_context().exit(2)


@models.command("fit")
@click.argument("csv_file", metavar="DATA.csv")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the fitted device as JSON; any "
              "--device / MODEL argument takes this file (memcircuit models pulses dev.json ...).")
@click.option("--plot", "plot_file", type=click.Path(dir_okay=False), help="Write a PNG of the data against the fit.")
@click.option("--json", "json_out", metavar="FILE|-", help="Write parameters, fit quality and every sweep as JSON.")
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE",
              help="Another device parameter, e.g. the measurement's pulse: --param v_pulse=3.2 --param t_pulse=300u.")
def fit(csv_file: str, output: str | None, plot_file: str | None, json_out: str | None,
        params: tuple[str, ...]) -> None:
    """Turn measured conductance-per-pulse data into an exp-pulse device.

    DATA.csv holds potentiation (LTP) and depression (LTD) sweeps of identical pulses, one or
    several cycles, as a parameter analyser exports them. One header row; `,` `;` or tab
    separated; `#` lines ignored; header names case-insensitive, a unit in brackets or after `_`
    (G (uS), G [uS], G_uS):

    \b
      G, conductance [S|mS|uS|nS|pS] or R, resistance [ohm|kohm|Mohm]   (required)
      pulse, pulse number, n      the reading after that pulse (0: before the first)
      phase, direction, type      LTP/potentiation/set/up/+  or  LTD/depression/reset/down/-
      voltage, amplitude          its sign marks the branch when there is no phase column
      cycle, run, repeat          optional

    Without a phase or voltage column each run of readings is a branch by its trend (sweeps of
    equal length are cut at exactly every N readings). The fit
    (NeuroSim's G(P) = B (1 - exp(-P/A)) + G_min, LTD its mirror image) takes n_ltp and n_ltd
    from the sweeps' pulse counts and fits g_min, g_max, a_ltp and a_ltd to all sweeps at once;
    sigma_c2c is the pulse-to-pulse scatter, pooled over the cycles. Reported: RMSE as a
    fraction of the conductance range, R^2 per branch, NeuroSim's non-linearity labels and the
    spread between cycles.

    \b
    Examples:
      memcircuit models fit data.csv -o dev.json --plot fit.png --json -
      memcircuit models fit sweep.csv --param v_pulse=3.2 --param t_pulse=300u -o agsi.json
      memcircuit models pulses dev.json --n 100 --amp 3.2 --width 300u
    """
    from memcircuit.devices import save_device
    from memcircuit.devices.fit import fit_pulse_csv

    result = fit_pulse_csv(csv_file, **_overrides(params))
    quiet = json_out == "-"
    click.echo(result.summary(), err=quiet)
    if result.quality["note"]:
        click.echo(f"note: {result.quality['note']}", err=True)
    if output:
        save_device(result.device, output, source=f"fit of {csv_file} (memcircuit models fit)",
                    extra={"fit": result.quality})
        click.echo(f"wrote {output}", err=quiet)
    emit_json(result.to_json(), json_out)
    if plot_file:
        from memcircuit.plot import save_figure
        from memcircuit.plot.device import plot_pulse_fit

        save_figure(plot_pulse_fit(result), plot_file)
        click.echo(f"wrote {plot_file}", err=quiet)


@click.command("iv")
@click.argument("json_file", type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="PNG file to write.")
def plot_iv(json_file: str, output: str) -> None:
    """Plot the I-V loop and state of a `memcircuit models iv --json` result.

    \b
    Example:
      memcircuit models iv yakopcic --json yak.json
      memcircuit plot iv yak.json -o yak.png
    """
    from memcircuit.plot import save_figure
    from memcircuit.plot.device import plot_iv_record

    path = Path(json_file)
    if not path.is_file():
        raise ConfigError(f"file not found: {json_file}")
    try:
        data = json.loads(path.read_text())
        record = {k: np.asarray(data[k], dtype=float) for k in ("time", "v", "i", "x")}
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{json_file} is not a `memcircuit models iv --json` result ({exc})") from None
    save_figure(plot_iv_record(record, title=f"{data.get('model', '')} ({data.get('form', '')})"), output)
    click.echo(f"wrote {output}")


def register(cli: click.Group) -> None:
    cli.add_command(models)
    if "plot" in cli.commands:
        cli.commands["plot"].add_command(plot_iv, "iv")
