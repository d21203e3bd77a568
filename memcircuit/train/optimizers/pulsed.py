"""Pulse-level optimizers: the part that SSM, stochastic coincidence and MBGD/low-rank share.

The optimizers of :mod:`~memcircuit.train.optimizers.ssm` (paper 2),
:mod:`~memcircuit.train.optimizers.stochastic` (paper 5) and
:mod:`~memcircuit.train.optimizers.mbgd` (paper 4) decide **whole programming pulses per
device** (discrete, stochastic) or **row/column pulse trains whose coincidences program the
devices**, so they program the tiles themselves instead of handing a weight change to the
default encoder of :mod:`memcircuit.train.pulses`. A :class:`PulseOptimizer` therefore has, on
top of :class:`~memcircuit.train.optimizers.base.Optimizer`:

* :meth:`PulseOptimizer.attach` (network and pulse calibration, once);
* :meth:`PulseOptimizer.program` (layer ``k``'s update -> pulse programs -> ``tile.program``;
  returns the tiles' :class:`~memcircuit.tiles.base.ProgramReport` s);
* :meth:`PulseOptimizer.epoch_metrics` (pulses that reached the devices, periphery memory).

**Unit pulse.** One unit is a V/2 half-select pulse of ``cal.v_prog`` and ``cal.t_unit``
(:func:`memcircuit.train.pulses.calibrate`); nominally it moves a device by :func:`unit_step`
(the mean step over the conductance range, measured once on the device's numeric twin).
A *synapse pulse* moves the weight by :func:`weight_unit`: on a differential pair the G+ device
and the G- device each get one unit in opposite directions (the split of
:meth:`memcircuit.train.network.TiledLayer.physical_delta`), on the reference layout the weight
column device gets one unit.

**Counting.** ``device_pulses`` are counted from the pulse programs the tiles received
(:func:`cell_pulse_units`: the time every cell spent above the half-select voltage, in units;
standard-pulse equivalents for amplitude-coded cells),
``driver_pulses`` are the tiles' own :class:`ProgramReport` counts (lines fired), and
``devices_moved`` counts cells whose conductance actually changed (``g_after != g_before`` in the
reports). None of them is the optimizer's intent.

:class:`memcircuit.train.loop.Trainer` calls them through the
:class:`~memcircuit.train.optimizers.base.Optimizer` interface like any optimizer's; the
registry names (:data:`PULSE_OPTIMIZERS`) are added to ``memcircuit train --optimizer`` by
:mod:`memcircuit.train.optimizers`, options through ``--opt KEY=VALUE``.
"""

from __future__ import annotations

import abc
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from memcircuit.errors import ConfigError, TrainingError
from memcircuit.tiles.base import ProgramReport, PulseProgram
from memcircuit.train.network import MappingConfig, Network, TiledLayer
from memcircuit.train.optimizers.base import Optimizer, Update
from memcircuit.train.pulses import PulseCalibration, encode_pwm, stochastic_units, whole_units

if TYPE_CHECKING:
    from memcircuit.devices.base import DeviceModel
    from memcircuit.train.lowrank import PeripheryMemory

INIT_MODES = ("ideal", "open-loop")
#: a cell may ask for at most this many times the unit pulses of its whole range in one update
RANGE_FACTOR = 4.0
PULSES = ("device", "loop")


def unit_step(tile, cal: PulseCalibration, states: int = 17) -> float:
    """Mean conductance change (S) of one unit pulse on the devices of ``tile``, averaged over
    potentiation and depression from ``states`` evenly spaced states across the range (and over
    the cells, which may differ by device-to-device variation).

    The loop's calibration (:func:`memcircuit.train.pulses.calibrate`) linearises the response
    at mid state; for devices whose response depends strongly on the state (soft bounds) or is
    quantised (the discrete-level device, whose smooth staircase is steepest between levels) the
    average over the range is the nominal step an open-loop scheme can count on.
    """
    dev = tile.device
    if dev is None:
        raise ConfigError("pulse-level optimizers need memristor cells (a device model)")
    steps = []
    for xk in np.linspace(dev.x_min, dev.x_max, states + 2)[1:-1]:
        x = np.full((tile.rows, tile.cols), xk)
        g0 = dev.conductance(x, tile.v_read)
        for sign in (1.0, -1.0):
            g1 = dev.conductance(dev.apply_pulse(x, sign * cal.polarity * cal.v_prog, cal.t_unit), tile.v_read)
            steps.append(np.mean(np.abs(g1 - g0)))
    return float(np.mean(steps))


def weight_unit(cfg: MappingConfig, dg_unit: float) -> float:
    """Nominal weight change of one synapse pulse (see module doc), dimensionless weight units,
    for a device step of ``dg_unit`` S (:func:`unit_step`)."""
    per_device = dg_unit / cfg.g_unit
    return 2.0 * per_device if cfg.signed == "differential" else per_device


def _device_share(layer: TiledLayer) -> float:
    """Fraction of a logical weight change that one device of the synapse carries."""
    return 0.5 if layer.cfg.signed == "differential" else 1.0


def physical_units(layer: TiledLayer, n: np.ndarray, r: int, c: int) -> np.ndarray:
    """Signed unit pulses per physical cell of tile (r, c) for ``n`` synapse pulses (full layer).

    Positive = the cell's conductance should rise. Differential: ``+n`` on G+, ``-n`` on G-.
    """
    (r0, r1), (c0, c1) = layer.row_blocks[r], layer.col_blocks[c]
    phys = layer.physical_factor(np.asarray(n, float)[r0:r1, c0:c1]) / (layer.cfg.g_unit * _device_share(layer))
    return whole_units(np.rint(phys), "the per-cell pulse count")


def physical_signs(layer: TiledLayer, b: np.ndarray, c: int) -> np.ndarray:
    """Column signs (..., physical columns of column block ``c``) for logical column signs ``b``."""
    c0, c1 = layer.col_blocks[c]
    return np.sign(layer.physical_factor(np.asarray(b, float)[..., c0:c1])).astype(int)


def synapse_pulses(p: np.ndarray, cal: PulseCalibration, rng: np.random.Generator, *, stochastic: bool = True,
                   n_max: int | None = None) -> np.ndarray:
    """Whole signed synapse pulses for desired (fractional) pulse numbers ``p``.

    ``stochastic``: ``floor(|p|) + Bernoulli(frac(|p|))`` (unbiased stochastic rounding, Gupta et
    al., ICML 2015; :func:`memcircuit.train.pulses.stochastic_units`), else round to nearest (the
    conventional pulse-number rounding, where changes below half a pulse vanish). At most
    ``n_max`` pulses per synapse (None: no cap beyond the encoder's chunking).
    """
    p = np.asarray(p, float)
    mag = np.abs(p)
    if stochastic:
        n = stochastic_units(mag, replace(cal, max_units=np.iinfo(np.int32).max), rng)
    else:
        n = np.rint(mag)
    if n_max is not None:
        n = np.minimum(n, n_max)
    return whole_units(np.sign(p) * n, "the synapse pulse count")


def encode_units(m: np.ndarray, cal: PulseCalibration, rng: np.random.Generator) -> PulseProgram:
    """Per-cell signed whole unit pulses ``m`` (|m| <= ``cal.max_units``) as a width-modulated
    V/2 program (:func:`memcircuit.train.pulses.encode_pwm`, widths ``|m| t_unit``)."""
    m = np.asarray(m)
    if np.any(np.abs(m) > cal.max_units):
        raise ConfigError(f"at most {cal.max_units} unit pulses per cell and program, got {int(np.abs(m).max())}")
    dg = m * np.where(m > 0, cal.rate_up, cal.rate_down) * cal.t_unit
    return encode_pwm(dg, cal, rng)


def cell_pulse_units(program: PulseProgram, cal: PulseCalibration, device=None) -> np.ndarray:
    """(rows, cols) programming every cell received, in unit pulses.

    All lines of a step start together (:class:`~memcircuit.tiles.base.PulseStep`), so a cell is
    programmed for ``min(row width, column width)`` when ``|V_row - V_col| > v_prog / 2``. At the
    full ``v_prog`` that time divided by ``t_unit`` is the number of unit pulses; for cells at other
    amplitudes (the amplitude-coded rows of the outer-product encoder) a pulse-response ``device``
    (one with ``pulse_counts``) converts amplitude and time into standard-pulse equivalents,
    relative to one unit pulse (without it, time above half-select counts as at ``v_prog``).
    """
    if not program.steps:
        return np.zeros((0, 0))
    first = program.steps[0]
    total = np.zeros((first.rows.size, first.cols.size))
    threshold = 0.5 * cal.v_prog * (1 + 1e-9)
    weigh = device is not None and device.standard_pulse
    if weigh:
        per_unit = float(sum(np.sum(n) for n in device.pulse_counts(np.array([cal.v_prog]), cal.t_unit)))
    for s in program.steps:
        v = s.rows[:, None] - s.cols[None, :]
        above = np.abs(v) > threshold
        overlap = np.where(above, np.minimum(s.row_widths[:, None], s.col_widths[None, :]), 0.0)
        if weigh and not np.allclose(np.abs(v[above]), cal.v_prog, rtol=1e-9):
            n_set, n_reset = device.pulse_counts(np.where(above, v, 0.0), overlap)
            total += (n_set + n_reset) / per_unit
        else:
            total += overlap / cal.t_unit
    return total


def _erase(tile) -> np.ndarray:
    """Set every device of ``tile`` to its lowest-conductance state; returns the conductances (S)."""
    dev = tile.device
    if dev is None:
        raise ConfigError("open-loop initialisation needs memristor cells (a device model)")
    lo, hi = np.full((tile.rows, tile.cols), dev.x_min), np.full((tile.rows, tile.cols), dev.x_max)
    low_is_off = np.mean(dev.conductance(lo, tile.v_read)) <= np.mean(dev.conductance(hi, tile.v_read))
    tile.set_states(lo if low_is_off else hi)
    return tile.conductances()


class PulseOptimizer(Optimizer):
    """An optimizer that programs the tiles itself (see module doc).

    ``init``: ``"ideal"`` keeps the loop's initial weights (an ideal write-verify);
    ``"open-loop"`` first erases every device to its lowest conductance and programs the initial
    weights with as many unit pulses as the nominal calibration asks for, without reading back
    (what a chip without read-verify does; device-to-device variation and the state-dependent
    response then distort the initial weights). ``init_verify`` > 0 adds that many read-verify
    rounds after it (paper 2's re-initialisation, :mod:`~memcircuit.train.optimizers.ssm`).
    ``pulse``: ``"device"`` makes the unit pulse worth exactly one standard pulse of the
    pulse-response families (one step of the imprecise device, the quantum these papers count):
    the loop's calibrated amplitude ``v_prog`` (half-select safe) for ``1 / r(v_prog)`` seconds,
    ``r`` the device's standard-pulse rate; ``"loop"`` (and devices without a standard pulse) keeps
    the loop's calibrated time unit ``t_unit``.
    """

    def __init__(self, lr: float, *, init: str = "ideal", init_verify: int = 0, pulse: str = "device") -> None:
        super().__init__(lr)
        if pulse not in PULSES:
            raise ConfigError(f"unit pulse must be one of {', '.join(PULSES)}, got {pulse!r}")
        self.pulse = pulse
        if init not in INIT_MODES:
            raise ConfigError(f"initialisation must be one of {', '.join(INIT_MODES)}, got {init!r}")
        if init_verify < 0:
            raise ConfigError(f"read-verify rounds must be >= 0, got {init_verify}")
        self.init, self.init_verify = init, int(init_verify)
        self.dg_unit: float | None = None   # nominal step (S) and weight change of one unit pulse:
        self.w_unit: float | None = None    # measured by attach()
        self._reset_counters()

    # -- wiring --------------------------------------------------------------------------------
    def unit_pulse(self, device: DeviceModel, cal: PulseCalibration) -> PulseCalibration:
        """The calibration with the unit pulse this optimizer uses on cells of ``device`` (see
        ``pulse`` in the class doc)."""
        dev = device.nominal
        if self.pulse == "loop" or not dev.standard_pulse:
            return cal
        n_set, n_reset = dev.pulse_counts(np.array([cal.polarity * cal.v_prog]), 1.0)
        rate = float(max(n_set[0], n_reset[0]))      # standard pulses per second at v_prog
        if not rate > 0:
            raise ConfigError(f"{dev.name}: {cal.v_prog:g} V does not program the device")
        return replace(cal, t_unit=1.0 / rate)

    def setup(self, shapes: list[tuple[int, int]], rng: np.random.Generator) -> None:
        super().setup(shapes, rng)
        self._init_rng = np.random.default_rng(rng.integers(2**63))

    def attach(self, net: Network, cal: PulseCalibration, rng: np.random.Generator | None = None, *,
               scheme: str = "auto") -> None:
        """Called once, after :meth:`setup`, with the network on tiles and the pulse calibration;
        then writes the initial weights (:meth:`initialise`) with ``rng`` (default: a stream drawn
        from the setup generator, so a seeded run repeats). ``scheme`` is not used: these rules
        encode their own pulses."""
        layer = net.layers[0]
        if layer.device is None:
            raise ConfigError("pulse-level optimizers need memristor cells (a device model)")
        super().attach(net, self.unit_pulse(layer.device, cal), scheme=scheme)
        cal = self.cal
        self.dg_unit = unit_step(layer.tile(0, 0), cal)
        self.w_unit = weight_unit(net.cfg, self.dg_unit)
        self.initialise(rng if rng is not None else self._init_rng)

    def _require(self) -> tuple[Network, PulseCalibration]:
        if self.net is None or self.cal is None:
            raise ConfigError(f"optimizer {self.name} programs tiles itself: call attach(network, calibration) "
                              "first (the training loop does)")
        return self.net, self.cal

    # -- counters ------------------------------------------------------------------------------
    def _reset_counters(self) -> None:
        self.counters: dict[str, float] = {"device_pulses": 0.0, "driver_pulses": 0, "devices_moved": 0,
                                           "programs": 0, "init_device_pulses": 0.0}

    def _apply(self, layer: TiledLayer, programs: list[list[PulseProgram | None]], *,
               init: bool = False) -> list[ProgramReport]:
        """Program ``layer`` (one program per tile) and count what reached the devices."""
        _, cal = self._require()
        units = sum(float(cell_pulse_units(p, cal, layer.device).sum()) for row in programs for p in row
                    if p is not None and p.steps)
        reports = layer.program(programs)
        self.counters["init_device_pulses" if init else "device_pulses"] += units
        self.counters["driver_pulses"] += int(sum(rep.pulses for rep in reports))
        self.counters["devices_moved"] += int(sum(np.count_nonzero(rep.g_after != rep.g_before) for rep in reports))
        self.counters["programs"] += len(reports)
        return reports

    def apply_cell_units(self, layer: TiledLayer, units: list[list[np.ndarray]], rng: np.random.Generator, *,
                         init: bool = False) -> list[ProgramReport]:
        """Program signed whole unit pulses per physical cell (one array per tile), in programs of
        at most ``cal.max_units`` units per cell.

        The number of programs is bounded: no cell may ask for more than
        :data:`RANGE_FACTOR` times the unit pulses that span its conductance range
        (:meth:`range_units`); a larger request is a :class:`~memcircuit.errors.TrainingError`
        before anything is programmed, not thousands of programs that pin the device at a bound.
        """
        _, cal = self._require()
        reports: list[ProgramReport] = []
        remaining = [[whole_units(m, "the per-cell pulse count") for m in row] for row in units]
        peak = max((int(np.abs(m).max()) for row in remaining for m in row if m.size), default=0)
        span = self.range_units(layer)
        bound = int(np.ceil(RANGE_FACTOR * span))
        if peak > bound:
            raise TrainingError(f"the update asks for {peak} unit pulses on one cell, but {span:.0f} span the "
                                f"device's whole range (at most {bound} allowed): lower the learning rate or check "
                                "the gradients")
        while any(np.any(m) for row in remaining for m in row):
            chunk = [[np.clip(m, -cal.max_units, cal.max_units) for m in row] for row in remaining]
            reports += self._apply(layer, [[encode_units(m, cal, rng) if np.any(m) else None for m in row]
                                           for row in chunk], init=init)
            remaining = [[m - k for m, k in zip(row, krow)] for row, krow in zip(remaining, chunk)]
        return reports

    def range_units(self, layer: TiledLayer) -> float:
        """Nominal unit pulses (:attr:`dg_unit` each) that span the layer's conductance range."""
        return (layer.cfg.g_max - layer.cfg.g_min) / self.dg_unit

    def apply_units(self, layer: TiledLayer, n: np.ndarray, rng: np.random.Generator) -> list[ProgramReport]:
        """Program ``n`` (n_in + 1, n_out) signed whole synapse pulses."""
        n = np.asarray(n, dtype=int)
        return self.apply_cell_units(layer, [[physical_units(layer, n, r, c) for c in range(len(layer.col_blocks))]
                                             for r in range(len(layer.row_blocks))], rng)

    # -- initialisation ------------------------------------------------------------------------
    def _program_conductances(self, layer: TiledLayer, targets: list[list[np.ndarray]],
                              start: list[list[np.ndarray]], rng: np.random.Generator) -> None:
        """Move every cell from ``start`` towards ``targets`` (S, one array per tile) with whole
        unit pulses counted from the nominal step :attr:`dg_unit` (open loop: nothing is read)."""
        units = [[whole_units(np.rint((t - g) / self.dg_unit), "the initial programming") for t, g in zip(trow, grow)]
                 for trow, grow in zip(targets, start)]
        self.apply_cell_units(layer, units, rng, init=True)

    def initialise(self, rng: np.random.Generator) -> None:
        """Initial weights on the devices: open-loop write and read-verify rounds (see class doc);
        nothing to do for the ideal initialisation without verify rounds."""
        net, _ = self._require()
        if self.init == "ideal" and self.init_verify == 0:
            return
        for layer in net.layers:
            targets = layer.target_conductances(layer.weights())
            if self.init == "open-loop":
                erased = layer.map_tiles(_erase)
                self._program_conductances(layer, targets, erased, rng)
            for _ in range(self.init_verify):
                read = layer.map_tiles(lambda tile: tile.conductances())
                self._program_conductances(layer, targets, read, rng)

    # -- the hook the loop calls -------------------------------------------------------------------
    def program(self, k: int, layer: TiledLayer, update: Update, rng: np.random.Generator) -> list[ProgramReport]:
        """Encode layer ``k``'s update (from :meth:`layer_update`) and program its tiles."""
        self._require()
        return self.program_layer(k, layer, update, rng)

    @abc.abstractmethod
    def program_layer(self, k: int, layer: TiledLayer, update: Update, rng: np.random.Generator) -> list[ProgramReport]:
        """Subclass part of :meth:`program`."""

    def periphery_memory(self) -> PeripheryMemory:
        """Numbers the periphery holds for the update rule, summed over layers (override)."""
        from memcircuit.train.lowrank import PeripheryMemory

        return PeripheryMemory(0, 0)

    def epoch_state(self) -> dict[str, float]:
        return dict(self.counters)

    def load_epoch_state(self, state: dict[str, float]) -> None:
        self.counters.update(state)

    def epoch_metrics(self) -> dict[str, Any]:
        """Counters since the last call (then reset) and the periphery memory."""
        out: dict[str, Any] = dict(self.counters)
        out["device_pulses"] = float(out["device_pulses"])
        mem = self.periphery_memory()
        out["periphery_floats"], out["periphery_working_floats"] = mem.persistent, mem.working
        self._reset_counters()
        return out

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self._reset_counters()   # the initial write of a resumed run is replaced by the checkpoint

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "init": self.init, "init_verify": self.init_verify, "pulse": self.pulse,
                "v_prog": None if self.cal is None else self.cal.v_prog,
                "t_unit": None if self.cal is None else self.cal.t_unit,
                "w_unit": self.w_unit}


def make_pulse_optimizer(name: str, lr: float, **options) -> PulseOptimizer:
    """A pulse-level optimizer by registry name (:data:`PULSE_OPTIMIZERS`) with its options."""
    from memcircuit.train.optimizers.mbgd import MBGD, LowRankMBGD
    from memcircuit.train.optimizers.ssm import SSM
    from memcircuit.train.optimizers.stochastic import StochasticCoincidence

    if name == "ssm":
        return SSM(lr, **options)
    if name == "stochastic":
        return StochasticCoincidence(lr, **options)
    if name == "mbgd":
        return MBGD(lr, **options)
    if name in LOW_RANK:
        method, apply = LOW_RANK[name]
        return LowRankMBGD(lr, method=method, apply=apply, **options)
    raise ConfigError(f"pulse optimizer must be one of {', '.join(PULSE_OPTIMIZERS)}, got {name!r}")


LOW_RANK = {"pca-seq": ("pca", "seq"), "pca-sum": ("pca", "sum"), "nmf-seq": ("nmf", "seq"), "nmf-sum": ("nmf", "sum")}
PULSE_OPTIMIZERS = ("ssm", "stochastic", "mbgd", *LOW_RANK)
_COMMON = "init=ideal|open-loop, pulse=device|loop"
#: one line per optimizer and its ``--opt KEY=VALUE`` options, for ``memcircuit train --help``
HELP = {
    "ssm": "SSM, paper 2: stochastic sparse ternary pulses, momentum, re-initialisation, update "
           "compensation (stochastic=true, momentum=0.9, reinit_rounds=3, compensation=readback|rounding|none, "
           f"n_max=1, density=null, residual_max=4, {_COMMON})",
    "stochastic": f"RPU stochastic pulse coincidence, paper 5 (bl=10, update_management=true, {_COMMON})",
    "mbgd": f"mini-batch GD, per-device pulses with stochastic rounding, paper 4 (rounding=stochastic|nearest, "
            f"{_COMMON})",
    "pca-seq": "rank-k streaming batch PCA of the batch gradient, rank-1 terms through rows/columns one after "
               f"another (rank=3, bl_max=64, seq_encoding=outer|coincidence, power_iters=1, {_COMMON})",
    "pca-sum": f"rank-k streaming batch PCA, terms summed in the periphery, per-device pulses (rank=3, {_COMMON})",
    "nmf-seq": "rank-k NMF of the positive and negative gradient parts, rank-seq (rank=3, nmf_max_iter=200, "
               f"streaming=true, bl_max=64, {_COMMON})",
    "nmf-sum": f"rank-k NMF, rank-sum (rank=3, nmf_max_iter=200, streaming=true, {_COMMON})",
}
