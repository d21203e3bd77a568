"""Whole tile circuits: crossbar plus drivers and sense amplifiers, ready for an engine.

* :func:`read_circuit`: a batch read (forward: rows driven, columns sensed; backward: columns
  driven, rows sensed) as one DC sweep of the index source (:func:`read_analysis`).
* :func:`bias_circuit`: every row and column driven at DC (programming voltages) with the
  device states frozen: the operating point gives the cell voltages during a pulse.
* :func:`program_circuit`: a pulse program as one transient with evolving device states.
* :func:`standalone_circuit`: a netlist for people (``memcircuit build crossbar``): DC read
  voltages on the rows, sense amplifiers, ADCs and signed-weight difference stages.

Top-level node and element names (the vectors a caller reads):
``Xxbar`` is the crossbar; ports ``r{i}``/``c{j}``/``w{i}`` are top-level nodes of the same
name; ideal sense sources ``Vsense{k}`` (``i(vsense{k})`` is the current flowing from the line
into the sense amplifier); TIA outputs ``o{k}``; ADC outputs ``q{k}``; driver sources
``Bdrv{k}`` (index-swept), ``Vrow{i}``/``Vcol{j}`` (DC or pulses).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from memcircuit.circuits.crossbar import cell_array, col_port, crossbar_subckt, row_port
from memcircuit.circuits.drivers import driver_elements, index_source, pulse_waveforms
from memcircuit.circuits.elements import CellArray, Tia
from memcircuit.circuits.opamp_ptm import PTM_OPAMP_SUBCKT, transistor_opamp
from memcircuit.circuits.sense import OPAMP_SUBCKT, opamp_subckt
from memcircuit.circuits.spec import SIGNED, CrossbarSpec
from memcircuit.devices.base import DeviceModel
from memcircuit.errors import ConfigError
from memcircuit.netlist import (
    Circuit,
    DcSweep,
    Element,
    External,
    Resistor,
    SubcktInstance,
    Tran,
    Vcvs,
    VoltageSource,
)
from memcircuit.netlist.probes import Current, Probe, StateNode, Voltage

XBAR = "Xxbar"
XBAR_SUBCKT = "crossbar"
# Tighter than ngspice's defaults (reltol 1e-3, vntol 1 uV, abstol 1 pA) so that non-linear cells
# converge to what the numeric solver computes; linear networks still take 2 iterations per point.
SOLVER_OPTIONS = (("reltol", 1e-6), ("vntol", 1e-9), ("abstol", 1e-15))
WORD_LINE = "wl"
DIRECTIONS = ("forward", "backward")


@dataclass(frozen=True)
class Cells:
    """What sits in the cells: linear conductances ``g`` (S) or a ``device`` with ``states``."""

    g: np.ndarray | None = None
    device: DeviceModel | None = None
    states: np.ndarray | None = None


def crossbar_circuit(spec: CrossbarSpec, cells: Cells, form: str = "frozen",
                     title: str = "memcircuit crossbar", options: tuple = SOLVER_OPTIONS) -> Circuit:
    """The crossbar instance ``Xxbar`` with its definitions (and the word-line driver of 1T1R
    cells) but no drivers or sense amplifiers: the part of a read circuit that does not change
    from batch to batch."""
    sub, extra, models, includes = crossbar_subckt(spec, g=cells.g, device=cells.device, states=cells.states,
                                                  form=form)
    nodes = tuple(sub.ports)
    elements: list[Element] = [SubcktInstance(XBAR, nodes, sub.name)]
    if spec.cell == "1T1R":
        # every word line port goes to one gate driver
        elements = [SubcktInstance(XBAR, tuple(WORD_LINE if n.startswith("w") else n for n in nodes), sub.name),
                    VoltageSource("Vwl", (WORD_LINE, "0"), dc=spec.transistor.v_gate)]
    osdi = ()
    if cells.device is not None and form == "osdi":
        if cells.device.va_path() is None:
            raise ConfigError(f"{cells.device.family} has no Verilog-A form")
        osdi = (str(cells.device.osdi_path()),)
    return Circuit(title, elements=tuple(elements), subckts=(sub, *extra), models=models, includes=includes,
                   osdi=osdi, options=options)


def _sense(spec: CrossbarSpec, k: int, port: str) -> VoltageSource | Tia:
    """Sense amplifier ``k`` on ``port``: an ideal 0 V source ``Vsense{k}`` or a TIA."""
    if spec.sense == "ideal":
        return VoltageSource(f"Vsense{k}", (port, "0"), dc=0.0)
    amp = PTM_OPAMP_SUBCKT if spec.tia.transistor else OPAMP_SUBCKT
    return Tia(f"tia{k}", port=port, k=k, tia=spec.tia, adc=spec.adc, amp=amp)


def _with_sense(circuit: Circuit, spec: CrossbarSpec, sensed_ports: Sequence[str]) -> Circuit:
    elements = [_sense(spec, k, port) for k, port in enumerate(sensed_ports)]
    if spec.sense == "tia":
        if spec.tia.transistor:
            sub, includes = transistor_opamp()
            circuit = Circuit(circuit.title, circuit.elements, circuit.subckts + (sub,), circuit.models,
                              circuit.params, circuit.options, circuit.osdi, circuit.includes + includes)
        else:
            circuit = Circuit(circuit.title, circuit.elements, circuit.subckts + (opamp_subckt(spec.tia.opamp),),
                              circuit.models, circuit.params, circuit.options, circuit.osdi, circuit.includes)
    return circuit.with_elements(*elements)


@dataclass(frozen=True)
class ReadProbes:
    """What a read circuit reports, per line: ``sensed`` (the sense current (A) of an ideal
    amplifier, or the TIA / ADC output (V): convert with :func:`sensed_current`), ``drivers``
    (current into each driver source, ngspice's sign: minus what it delivers), ``tia_in`` /
    ``tia_out`` (TIA input and output voltages; empty for ideal sensing)."""

    sensed: tuple[Probe, ...]
    drivers: tuple[Current, ...]
    tia_in: tuple[Voltage, ...] = ()
    tia_out: tuple[Voltage, ...] = ()

    @property
    def energy(self) -> tuple[Probe, ...]:
        """The probes the read's energy needs (:mod:`memcircuit.tiles.energy`)."""
        return self.drivers + self.tia_in + self.tia_out


def read_probes(spec: CrossbarSpec, direction: str = "forward") -> ReadProbes:
    """The probes of :func:`read_circuit` in ``direction`` (the same names it writes)."""
    driven, sensed = _lines(spec, direction)
    drivers = tuple(Current(f"Vdrv{k}") for k in range(len(driven)))
    amps = [_sense(spec, k, port) for k, port in enumerate(sensed)]
    if spec.sense == "ideal":
        return ReadProbes(tuple(Current(a.name) for a in amps), drivers)
    return ReadProbes(tuple(a.sensed_probe() for a in amps), drivers, tuple(a.input_probe() for a in amps),
                      tuple(a.output_probe() for a in amps))


def sensed_current(spec: CrossbarSpec, values: np.ndarray) -> np.ndarray:
    """Convert sensed vectors (A for ideal sense, V for a TIA/ADC output) to amperes."""
    return values if spec.sense == "ideal" else -values / spec.tia.r_f


def _lines(spec: CrossbarSpec, direction: str) -> tuple[list[str], list[str]]:
    rows = [row_port(i) for i in range(spec.rows)]
    cols = [col_port(j) for j in range(spec.cols)]
    if direction == "forward":
        return rows, cols
    if direction == "backward":
        return cols, rows
    raise ConfigError(f"direction must be one of {', '.join(DIRECTIONS)}, got {direction!r}")


def read_circuit(spec: CrossbarSpec, cells: Cells, inputs: np.ndarray | None, *, direction: str = "forward",
                 title: str = "memcircuit crossbar read", base: Circuit | None = None) -> Circuit:
    """A batch read: ``inputs`` is (batch, driven lines) V; run it with :func:`read_analysis`.

    With ``inputs=None`` the drivers are external sources and the netlist is the same for every
    batch: run it in a :class:`~memcircuit.spice.SharedEngine` with
    ``sources=read_sources(circuit, inputs)``.

    Only what :func:`read_probes` names is saved.

    ``base`` is a cached :func:`crossbar_circuit` of the same cells (saves rebuilding it)."""
    driven, sensed = _lines(spec, direction)
    if inputs is not None:
        inputs = _batch_inputs(inputs, len(driven), direction)
    circuit = base if base is not None else crossbar_circuit(spec, cells, "frozen", title)
    elements: list[Element] = [index_source()]
    for k, port in enumerate(driven):
        elements += driver_elements(f"drv{k}", port, None if inputs is None else inputs[:, k], spec.driver)
    circuit = _with_sense(circuit.with_elements(*elements), spec, sensed)
    # with external drivers (the tiles' form), their currents and the TIA nodes give the read's
    # energy (memcircuit.tiles.energy)
    probes = read_probes(spec, direction)
    return circuit.with_saves(*probes.sensed, *(probes.energy if inputs is None else ()))


def _batch_inputs(inputs: np.ndarray, n_driven: int, direction: str) -> np.ndarray:
    inputs = np.atleast_2d(np.asarray(inputs, dtype=float))
    if inputs.ndim != 2 or inputs.shape[1] != n_driven:
        raise ConfigError(f"a {direction} read drives {n_driven} lines; inputs have shape {inputs.shape}")
    return inputs


def read_sources(circuit: Circuit, inputs: np.ndarray) -> dict[str, np.ndarray]:
    """Values for the external drivers of ``circuit = read_circuit(..., inputs=None)``: source
    name -> (batch,) V, column ``k`` of ``inputs`` to the ``k``-th driven line."""
    names = circuit.external_sources  # in driver order, as read_circuit added them
    inputs = _batch_inputs(inputs, len(names), "read")
    return {name: inputs[:, k] for k, name in enumerate(names)}


def read_analysis(batch: int) -> DcSweep:
    """The DC sweep of the index source that reads ``batch`` inputs."""
    return DcSweep("Vidx", 0.0, float(batch - 1), 1.0)


def bias_circuit(spec: CrossbarSpec, cells: Cells, row_v: np.ndarray | None, col_v: np.ndarray | None,
                 title: str = "memcircuit crossbar bias", *, held_states: bool = False) -> Circuit:
    """Rows and columns driven at DC (``Vrow{i}``, ``Vcol{j}`` behind ``r_out``), states frozen;
    ``row_v = col_v = None`` makes every driver an external source (values per solve, rows then
    columns). ``held_states`` (with external drivers, devices whose :attr:`DeviceModel.state_port`
    holds): the cell states are external sources too (``Vs{i}_{j}`` on the crossbar's state
    ports, after the drivers, row-major), so one netlist solves any state without a new parse."""
    if held_states and (row_v is not None or cells.device is None or not cells.device.state_port):
        raise ConfigError("held states need external drivers and a device whose read form takes the state "
                          "from a port")
    circuit = crossbar_circuit(spec, cells, "held" if held_states else "frozen", title)
    elements: list[Element] = []
    for i in range(spec.rows):
        elements += driver_elements(f"row{i}", row_port(i), None if row_v is None else float(row_v[i]), spec.driver)
    for j in range(spec.cols):
        elements += driver_elements(f"col{j}", col_port(j), None if col_v is None else float(col_v[j]), spec.driver)
    if held_states:
        ports = cell_array(next(s for s in circuit.subckts if s.name == XBAR_SUBCKT)).pins[2]
        elements += [VoltageSource(f"V{ports.name(k)}", (ports.name(k), "0"), wave=External())
                     for k in range(spec.rows * spec.cols)]
    if row_v is None:  # a batch of settings is a sweep of the index source (read_analysis)
        elements.append(index_source())
    return circuit.with_elements(*elements)


def cells_of(circuit: Circuit) -> CellArray:
    """The cells of a circuit made by :func:`crossbar_circuit` (and the circuits built on it)."""
    return cell_array(next(s for s in circuit.subckts if s.name == XBAR_SUBCKT))


def cell_terminal_probes(circuit: Circuit) -> tuple[list[Voltage], list[Voltage]]:
    """Voltage probes of the two terminals of every cell element (row-major): the row side and
    the other side (the column node, or the middle node of a 1T1R cell)."""
    cells = cells_of(circuit)

    def probe(pins, k: int) -> Voltage:
        name = pins.name(k)
        # ports are top-level nodes of the same name; other nodes live inside the crossbar
        return Voltage(name) if len(pins.bus_of(k).shape) == 1 else Voltage(name, (XBAR,))

    top, bottom = cells.pins[:2]
    return [probe(top, k) for k in range(cells.size)], [probe(bottom, k) for k in range(cells.size)]


def state_probes(circuit: Circuit) -> list[StateNode]:
    """Probes of every cell's state (row-major) in a programming transient."""
    return cells_of(circuit).state_probes((XBAR,))


MODES = ("forward", "backward", "bias")


def mode_circuit(spec: CrossbarSpec, cells: Cells, mode: str) -> Circuit:
    """The DC circuit of a tile in ``mode`` with external drivers: a ``forward`` or ``backward``
    read (:func:`read_circuit`) or the programming ``bias`` (:func:`bias_circuit`), states frozen."""
    if mode == "bias":
        return bias_circuit(spec, cells, None, None)
    if mode in DIRECTIONS:
        return read_circuit(spec, cells, None, direction=mode)
    raise ConfigError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")


def program_circuit(spec: CrossbarSpec, cells: Cells, steps: Sequence, *, edge: float = 1e-9, gap: float = 10e-9,
                    form: str = "behavioural", title: str = "memcircuit crossbar programming"
                    ) -> tuple[Circuit, Tran, np.ndarray]:
    """A pulse program as one transient: ``(circuit, analysis, step start times)``.

    Row and column drivers are PWL sources ``Vrow{i}``/``Vcol{j}`` behind ``r_out``; device
    states start at ``cells.states`` and evolve; read them back with :func:`state_probes`.
    """
    if cells.device is None:
        raise ConfigError("programming needs memristor cells (pass a device); linear resistors do not change")
    rows_w, cols_w, starts = pulse_waveforms(steps, spec.rows, spec.cols, edge=edge, gap=gap)
    circuit = crossbar_circuit(spec, cells, form, title, options=())  # ngspice's transient tolerances
    elements: list[Element] = []
    for (label, port, inner), wave in zip(program_drivers(spec), rows_w + cols_w):
        elements.append(VoltageSource(f"V{label}", (inner, "0"), dc=0.0, wave=wave))
        if spec.driver.r_out > 0:
            elements.append(Resistor(f"R{label}", (inner, port), spec.driver.r_out))
    # Every pulse edge is a PWL breakpoint, and ngspice starts each interval between breakpoints
    # with at most a tenth of it, so short pulses are resolved whatever the step cap; inside long
    # flat pulses the truncation-error control of the state integrates the smooth drift. A cap of
    # a tenth of the longest pulse (not a twentieth of the shortest) keeps final states within
    # about 3e-5 of the range (a thirtieth of a training unit pulse) of a 100x finer reference
    # and takes 3-8x fewer time points (scripts/bench_program.py).
    widths = [w for s in steps for w in (*s.row_widths, *s.col_widths) if w > 0]
    shortest = min(widths) if widths else float(starts[-1])
    longest = max(widths) if widths else float(starts[-1])
    step = min(shortest / 20, edge / 2)
    analysis = Tran(step=step, stop=float(starts[-1]), max_step=max(longest / 10, shortest / 20), uic=True)
    return circuit.with_elements(*elements), analysis, starts


def program_drivers(spec: CrossbarSpec) -> list[tuple[str, str, str]]:
    """``(label, port, node)`` of every row then column driver of a programming or bias circuit:
    source ``V<label>`` sets ``node``, the line's ``port`` itself or, behind the driver's output
    resistance ``R<label>``, ``d_<label>`` (probes: :func:`driver_probes`)."""
    lines = [(f"row{i}", row_port(i)) for i in range(spec.rows)] + [(f"col{j}", col_port(j)) for j in range(spec.cols)]
    return [(label, port, f"d_{label}" if spec.driver.r_out > 0 else port) for label, port in lines]


def driver_probes(spec: CrossbarSpec) -> list[tuple[Voltage, Current]]:
    """(source voltage, source current) probes of every row then column programming driver."""
    return [(Voltage(node), Current(f"V{label}")) for label, _, node in program_drivers(spec)]


def standalone_circuit(spec: CrossbarSpec, cells: Cells, v_read: np.ndarray | float = 0.1, *,
                       signed: str | None = None, form: str = "frozen",
                       title: str = "memcircuit crossbar") -> Circuit:
    """A self-contained read netlist: DC row drivers at ``v_read`` V, sense amplifiers on every
    column, and for ``signed`` layouts a difference stage per logical output. Device cells use
    ``form`` (``"frozen"``: states held, ready for ``.op``; ``"behavioural"``/``"osdi"``: states
    evolve, for transients).

    ``differential``: physical columns (2k, 2k+1) carry (G+, G-); ``reference``: the last column
    is the reference. With a TIA, ``Ed{k}`` writes ``V(o_plus) - V(o_minus)`` to node ``d{k}``.
    """
    if signed is not None and signed not in SIGNED:
        raise ConfigError(f"signed must be one of {', '.join(SIGNED)}, got {signed!r}")
    circuit = crossbar_circuit(spec, cells, form, title)
    v = np.broadcast_to(np.asarray(v_read, dtype=float), (spec.rows,))
    elements: list[Element] = []
    for i in range(spec.rows):
        elements += driver_elements(f"row{i}", row_port(i), float(v[i]), spec.driver)
    circuit = _with_sense(circuit.with_elements(*elements), spec, [col_port(j) for j in range(spec.cols)])
    if signed is not None and spec.sense == "tia":
        out = "q" if spec.adc is not None else "o"
        from memcircuit.circuits.signed import pairs

        diffs = [Vcvs(f"Ed{k}", (f"d{k}", "0", f"{out}{p}", f"{out}{n}"), 1.0)
                 for k, (p, n) in enumerate(pairs(spec.cols, signed))]
        circuit = circuit.with_elements(*diffs)
    return circuit
