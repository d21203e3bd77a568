"""Helpers shared by the CLI modules: SI-number parameters, JSON output, file checks."""

from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path
from typing import Any

import click
import numpy as np

from memcircuit.errors import ConfigError
from memcircuit.fidelity import FIDELITIES
from memcircuit.fileio import json_text, write_atomic  # noqa: F401 (write_atomic: used by the CLI modules)
from memcircuit.units import parse_si


class SIFloat(click.ParamType):
    """A number with optional engineering prefix: 1e-3, 1m, 10k, 2.5meg."""

    name = "number"

    def __init__(self, *, positive: bool = False, nonnegative: bool = False) -> None:
        self.positive = positive
        self.nonnegative = nonnegative

    def convert(self, value, param, ctx) -> float:
        if isinstance(value, float):
            return value
        label = param.human_readable_name if param is not None else "value"
        try:
            number = parse_si(value, name=label)
        except ConfigError as exc:
            self.fail(str(exc), param, ctx)
        if self.positive and not number > 0:
            self.fail(f"must be > 0, got {value}", param, ctx)
        if self.nonnegative and number < 0:
            self.fail(f"must be >= 0, got {value}", param, ctx)
        return number


# Every command that loads a user netlist takes the same option (usernetlist.py: why).
allow_include_option = click.option(
    "--allow-include", "allow_include", multiple=True, metavar="DIR",
    type=click.Path(file_okay=False, exists=True, resolve_path=True),
    help="Let .include/.lib read files under DIR too (repeatable); by default only the netlist's "
         "folder and the project's model folders.")


def check_output(destination: str | None, option: str) -> None:
    """:class:`ConfigError` now, before any work, when ``destination`` (a file to write; ``-`` is
    stdout) is a directory or lies under a file."""
    if destination in (None, "-"):
        return
    path = Path(destination)
    if path.is_dir():
        raise ConfigError(f"{option}: {destination} is a directory; give a file name")
    parent = next((p for p in path.parents if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise ConfigError(f"{option}: {parent} is a file, not a directory")


def emit_json(data: Any, destination: str | None) -> None:
    """Write JSON to a file, or to stdout when destination is '-'."""
    if destination is None:
        return
    text = json_text(data)
    if destination == "-":
        click.echo(text, nl=False)
    else:
        write_atomic(destination, text)


def load_npy(path: str, *, what: str, ndim: int | None = None) -> np.ndarray:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{what}: file not found: {p}")
    try:
        arr = np.load(p, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:  # EOFError: an empty file (click would say "aborted")
        reason = "empty file" if isinstance(exc, EOFError) else \
            "not in numpy's .npy format" if "pickle" in str(exc) else str(exc)
        raise ConfigError(f"{what}: {p} is not a .npy array ({reason}; write one with numpy.save)") from None
    if ndim is not None and arr.ndim != ndim:
        raise ConfigError(f"{what}: expected a {ndim}-D array, {p} has shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number) or not np.all(np.isfinite(arr)):
        raise ConfigError(f"{what}: {p} must hold finite numbers")
    return arr.astype(float)


def warn(message: str) -> None:
    """One line on stderr about input that works but is questionable."""
    click.echo(f"warning: {message}", err=True)


def energy_line(flat: dict[str, float]) -> str:
    """One line of energy by component from :func:`memcircuit.tiles.energy.flat_energy` keys."""
    from memcircuit.units import format_si

    def part(phase: str) -> str:
        items = [(k[len(f"energy_{phase}_"):-2], v) for k, v in flat.items() if k.startswith(f"energy_{phase}_")]
        return f"{phase} {format_si(sum(v for _, v in items), 'J')} (" + \
            ", ".join(f"{name} {format_si(v, 'J')}" for name, v in items) + ")"

    return f"energy {format_si(flat['energy_total_j'], 'J')}: {part('read')}, {part('program')}"


def progress_enabled() -> bool:
    return sys.stderr.isatty() or bool(os.environ.get("MEMCIRCUIT_PROGRESS"))


# -- options shared by the commands that build tiles (tile read/program, build, train, infer) ----------

def state_options(func):
    """Decorator: ``--state-node`` / ``--state-param`` of a Verilog-A device, folded into the
    command's ``device_items`` (its ``--device-param`` list) as ``state_node=`` / ``state_param=``."""
    @functools.wraps(func)
    def wrapper(*args, state_node: str | None = None, state_param: str | None = None, **kwargs):
        extra = tuple(f"{k}={v}" for k, v in (("state_node", state_node), ("state_param", state_param)) if v)
        if extra and kwargs.get("device") is None:
            raise ConfigError("--state-node and --state-param describe a Verilog-A --device PATH.va")
        kwargs["device_items"] = tuple(kwargs.get("device_items") or ()) + extra
        return func(*args, **kwargs)

    wrapper = click.option("--state-param", metavar="NAME",
                           help="Verilog-A device: the instance parameter that starts the state (default: the "
                                "one added to the state node, or x0, w0, x_init, ...).")(wrapper)
    return click.option("--state-node", metavar="NAME",
                        help="Verilog-A device: the internal node holding the state offset (default: the only "
                             "ddt node, or x, w, state, s, st).")(wrapper)


def circuit_options(device_default: str | None = None, device_help: str | None = None, device_params: bool = False):
    """Decorator: the options that describe a tile's circuit (device, cell, wires, sense amplifier,
    ADC, driver, read voltage); :func:`tile_config_from_cli` turns them into a tile. With
    ``device_params`` also ``--device-param``, resolved here: the command then receives ``device``
    as a model (a name when no parameter is given) and no ``device_items``."""
    def decorate(func):
        if device_params:
            inner = func

            @functools.wraps(inner)
            def func(*args, device_items: tuple[str, ...] = (), **kwargs):
                if device_items:
                    from memcircuit.tiles import resolve_device

                    if kwargs.get("device") is None:
                        raise ConfigError("--device-param needs a --device")
                    kwargs["device"] = resolve_device(kwargs["device"], **parse_key_values(device_items,
                                                                                            "--device-param"))
                return inner(*args, **kwargs)

            func = shared_options("--device-param")(func)
        func = state_options(func)
        options = [
            click.option("--device", metavar="MODEL", default=device_default,
                         show_default=device_default is not None,
                         help=device_help or "Memristor model: a name (memcircuit models list), a device "
                                             ".json, or your own Verilog-A file (PATH.va: compiled, runs at "
                                             "spice; its twin from `models characterize` runs everywhere; "
                                             "docs/DEVICES.md). Default: linear resistors."),
            click.option("--cell", **_SHARED["--cell"]),
            click.option("--r-wire", type=SIFloat(nonnegative=True), default=0.0, show_default=True,
                         help="Wire resistance per segment, ohm (rows and columns), e.g. 2.5."),
            click.option("--r-wire-row", type=SIFloat(nonnegative=True), metavar="OHM",
                         help="Word-line (row) segments alone, ohm; replaces --r-wire on the rows (0: ideal)."),
            click.option("--r-wire-col", type=SIFloat(nonnegative=True), metavar="OHM",
                         help="Bit-line (column) segments alone, ohm; replaces --r-wire on the columns (0: ideal)."),
            click.option("--v-read", type=SIFloat(positive=True), default=0.1, show_default=True,
                         help="Read voltage (V) at which memristor conductances are defined."),
        ]
        for option in reversed(options):
            func = option(func)
        return periphery_options(func)
    return decorate


# Help of every periphery option; the names and defaults are those of circuits.spec.Periphery.
_PERIPHERY_HELP = {
    "r_out": (SIFloat(nonnegative=True), "Driver output resistance, ohm."),
    "sense": (click.Choice(["ideal", "tia"]), "ideal: 0 V virtual ground; tia: op-amp transimpedance amplifier."),
    "r_f": (SIFloat(positive=True), "TIA feedback resistance, ohm."),
    "opamp_gain": (SIFloat(positive=True), "TIA op-amp open-loop DC gain (V/V); the read error is about "
                                           "1/(1 + gain/(1 + R_f G_column))."),
    "opamp_gbw": (SIFloat(positive=True), "TIA op-amp gain-bandwidth product, Hz (the dominant pole is "
                                          "gbw/gain; matters in transients only, not in DC reads)."),
    "opamp_swing": (SIFloat(positive=True), "TIA op-amp output swing: the output saturates at +-this, V."),
    "tia_opamp": (click.Choice(["behavioural", "transistor"]),
                  "behavioural: the op-amp macromodel of the options above; transistor: two-stage "
                  "PTM 45 nm op-amp (spice and hybrid fidelities)."),
    "adc_bits": (click.IntRange(1, 24), "Quantise the TIA output with an ADC (bits; needs --sense tia)."),
    "adc_range": (SIFloat(positive=True), "ADC input range: +-this, V."),
    "input_bits": (click.IntRange(2, 24), "Input DAC resolution, bits: forward reads (activations in train and "
                                          "infer; tile read rounds its inputs over +-max|V|)."),
    "error_bits": (click.IntRange(2, 24), "Error DAC resolution, bits: backward reads (errors in train; tile "
                                          "read --transpose). Inference has no backward read."),
}


def periphery_options(func):
    """Decorator: one option per :class:`~memcircuit.circuits.spec.Periphery` field (``--opamp-gain``
    for ``opamp_gain``), same defaults; :func:`periphery_from_cli` collects them."""
    from memcircuit.circuits.spec import PERIPHERY_FIELDS, Periphery

    default = Periphery()
    for name in reversed(PERIPHERY_FIELDS):
        kind, text = _PERIPHERY_HELP[name]
        value = getattr(default, name)
        func = click.option(f"--{name.replace('_', '-')}", name, type=kind, default=value,
                            show_default=value is not None, help=text)(func)
    return func


def periphery_from_cli(fidelity: str | None, options: dict):
    """The :class:`~memcircuit.circuits.spec.Periphery` of a command, its options removed from
    ``options``; :class:`ConfigError` when ``fidelity`` cannot model one of them."""
    from memcircuit.circuits.spec import PERIPHERY_FIELDS, Periphery

    periphery = Periphery(**{name: options.pop(name) for name in PERIPHERY_FIELDS})
    if fidelity is not None:
        periphery.require_modelled(fidelity)
    return periphery


def tile_config_from_cli(fidelity: str, rows: int, cols: int, *, device, cell: str, r_wire: float,
                         r_wire_row: float | None, r_wire_col: float | None, v_read: float, periphery,
                         dac_full_scale: float | None = None, backward: bool = False, workers: int | None = None,
                         timeout: float | None = None):
    """The :class:`~memcircuit.tiles.config.TileConfig` of a command's tile options (the one place
    the CLI turns them into a tile): ``periphery`` from :func:`periphery_from_cli`, its DACs over
    +-``dac_full_scale`` V (``backward``: the error DAC); ``workers`` and ``timeout`` apply at the
    ngspice fidelities only. Notes on stderr what the ``ideal`` fidelity ignores."""
    from memcircuit.tiles.config import Fidelity, TileConfig

    fidelity = Fidelity.parse(fidelity)
    engine = {"workers": workers, "timeout": timeout} if fidelity.ngspice else {}
    config = TileConfig.from_options(rows=rows, cols=cols, fidelity=fidelity, device=device, cell=cell, r_wire=r_wire,
                                     r_wire_row=r_wire_row, r_wire_col=r_wire_col, v_read=v_read,
                                     **periphery.tile_kwargs(dac_full_scale=dac_full_scale, backward=backward),
                                     **engine)
    ideal_ignores(config)
    return config


def workers_ignored(fidelity: str, workers: int | None) -> bool:
    """``--workers`` above 1 at a fidelity that runs no ngspice: told on stderr, True."""
    from memcircuit.fidelity import Fidelity

    fidelity = Fidelity.parse(fidelity)
    if fidelity.ngspice or not workers or workers <= 1:
        return False
    click.echo(f"note: --workers splits reads over ngspice workers (spice, hybrid); the {fidelity} fidelity "
               "solves in this process and ignores it", err=True)
    return True


def ideal_ignores(config) -> list[str]:
    """The wire and cell options of a :class:`~memcircuit.tiles.config.TileConfig` that the
    ``ideal`` fidelity ignores by definition (told on stderr; periphery options it cannot model
    are an error, :meth:`~memcircuit.circuits.spec.Periphery.require_modelled`)."""
    if config.fidelity != "ideal":
        return []
    ignored = [name for name, used in (("--r-wire", config.r_wire > 0), ("--r-wire-row", bool(config.r_wire_row)),
                                       ("--r-wire-col", bool(config.r_wire_col)),
                                       ("--cell 1T1R", config.cell == "1T1R")) if used]
    if ignored:
        click.echo(f"note: the ideal fidelity is G^T V with ideal wires; it ignores "
                   f"{', '.join(ignored)} (use --fidelity numeric or spice for them)", err=True)
    return ignored


fidelity_choice = click.Choice(FIDELITIES)
"""The ``--fidelity`` choices of every command (:class:`~memcircuit.tiles.base.Fidelity`)."""


_SHARED = {
    "--cell": dict(type=click.Choice(["1R", "1T1R"]), default="1R", show_default=True,
                   help="1R: the cell element alone; 1T1R: in series with a level-1 NMOS access transistor."),
    "--device-param": dict(param_decls=("--device-param", "device_items"), multiple=True, metavar="KEY=VALUE",
                           help="Device parameter override, repeatable (e.g. --device-param a_ltp=5). For a "
                                "Verilog-A model: its module parameters, and state_node=, state_param=, "
                                "state_min=, state_max=, module= when they are not found by name."),
    "--signed": dict(type=click.Choice(["differential", "reference"]), default="differential", show_default=True,
                     help="Signed weights on G+ - G- pairs or against a reference column."),
    "--tile-size": dict(default="64x64", show_default=True, help="Physical tile ROWSxCOLS; larger layers split."),
    "--variation": dict(type=SIFloat(nonnegative=True), default=0.0, show_default=True,
                        help="Device-to-device spread (relative sigma of the device parameters)."),
    "--workers": dict(type=click.IntRange(min=1), default=1, show_default=True,
                      help="Parallel ngspice workers per tile, each reading a shard of the batch (spice/hybrid)."),
    "--parallel-tiles": dict(type=click.IntRange(min=1), default=1, show_default=True,
                             help="Tiles of a layer simulated at the same time, each in its own ngspice (spice/hybrid; "
                                  "layers larger than --tile-size have several). Same numbers at any setting."),
    "--v-prog": dict(type=SIFloat(positive=True), help="Programming voltage (V); default from the device."),
    "--t-unit": dict(type=SIFloat(positive=True), help="Pulse time unit (s); default: 1/levels of the range."),
    "--max-units": dict(type=click.IntRange(min=1), default=128, show_default=True,
                        help="Longest pulse per step, in time units."),
    "--levels": dict(type=SIFloat(positive=True), default=1000.0, show_default=True,
                     help="Unit pulses that span the conductance range (sets --t-unit)."),
}


def shared_options(*names: str):
    """Decorator: the options of ``train`` that other commands take with the same meaning."""
    def decorate(func):
        for name in reversed(names):
            spec = dict(_SHARED[name])
            func = click.option(*spec.pop("param_decls", (name,)), **spec)(func)
        return func
    return decorate


def parse_tile_size(text: str) -> tuple[int, int]:
    """``--tile-size ROWSxCOLS`` -> (rows, cols)."""
    try:
        rows, cols = (int(s) for s in text.lower().split("x"))
    except ValueError:
        raise ConfigError(f"--tile-size takes ROWSxCOLS like 64x64, got {text!r}") from None
    return rows, cols


def parse_key_values(items: tuple[str, ...], option: str = "--opt") -> dict:
    """``KEY=VALUE`` pairs; values parsed as JSON when they are (numbers, true/false), else strings
    (SI strings such as ``10k`` are left to the receiver)."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{option} takes KEY=VALUE, got {item!r}")
        try:
            out[key.strip().replace("-", "_")] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip().replace("-", "_")] = value
    return out
