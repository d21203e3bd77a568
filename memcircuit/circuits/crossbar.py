"""The crossbar array as one ngspice subcircuit: cells, wire segments, parasitics.

``.subckt <name> r0 .. r{R-1} c0 .. c{C-1} [w0 .. w{R-1}]``: ``r{i}`` is the left end of row
``i`` (driver side), ``c{j}`` the bottom end of column ``j`` (sense side), ``w{i}`` the word line
(gate) of row ``i`` in 1T1R arrays. Inside, following docs/DESIGN.md:

* row node (i, j) ``r{i}_{j}`` and column node (i, j) ``c{i}_{j}``; rows without wire
  resistance (``spec.wire_row == 0``) use the row port itself, columns without it the column port;
* ``Rr{i}_{j}``: row segment into row node (i, j) (from the port for j = 0);
  ``Rc{i}_{j}``: column segment from (i-1, j) down to (i, j); ``Rb{j}``: last column segment
  to the port;
* cell (i, j) between row node (i, j) and column node (i, j): ``Rx{i}_{j}`` (linear, value
  1/G) or ``Xd{i}_{j}`` (a memristor instance; its state is ``v(<inst>.xd{i}_{j}.x)``); in
  1T1R cells the element ends on ``m{i}_{j}`` and ``Mt{i}_{j}`` (drain ``m``, gate ``w{i}``,
  source the column node, bulk ground) completes the cell. A cell with G = 0 is left out;
* ``Cr{i}_{j}``/``Cc{i}_{j}``: optional parasitic capacitance ``c_wire`` from every row and
  column node to ground.
"""

from __future__ import annotations

import numpy as np

from memcircuit.circuits.elements import CELL_FORMS, AccessTransistorArray, CellArray
from memcircuit.circuits.spec import CrossbarSpec
from memcircuit.circuits.transistor import LEVEL1_NMOS, PTM45_NMOS, level1_model, ptm45_card
from memcircuit.devices.base import DeviceModel
from memcircuit.errors import ConfigError
from memcircuit.netlist import Model, Subckt
from memcircuit.netlist.arrays import GROUND_BUS, Bus, CapacitorArray, Pins, ResistorArray

DEVICE_FORMS = CELL_FORMS
STATE_PORT = "s"   # the held form's state ports s{i}_{j} (the cell states, given from outside)


def row_port(i: int) -> str:
    return f"r{i}"


def col_port(j: int) -> str:
    return f"c{j}"


def gate_port(i: int) -> str:
    return f"w{i}"


def ports(spec: CrossbarSpec) -> tuple[str, ...]:
    out = tuple(row_port(i) for i in range(spec.rows)) + tuple(col_port(j) for j in range(spec.cols))
    if spec.cell == "1T1R":
        out += tuple(gate_port(i) for i in range(spec.rows))
    return out


def check_matrix(name: str, arr: np.ndarray, spec: CrossbarSpec, *, nonnegative: bool = True) -> np.ndarray:
    arr = np.asarray(arr, dtype=float)
    if arr.shape != spec.shape:
        raise ConfigError(f"{name} must have shape {spec.shape} (rows x cols), got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ConfigError(f"{name} must be finite")
    if nonnegative and np.any(arr < 0):
        raise ConfigError(f"{name} must be >= 0")
    return arr


def crossbar_subckt(spec: CrossbarSpec, *, g: np.ndarray | None = None, device: DeviceModel | None = None,
                    states: np.ndarray | None = None, form: str = "behavioural",
                    name: str = "crossbar") -> tuple[Subckt, tuple[Subckt, ...], tuple[Model, ...], tuple[str, ...]]:
    """The crossbar subcircuit and what it needs: ``(subckt, other subckts, models, includes)``.

    Cells are linear resistors of conductance ``g`` (S, rows x cols) when ``device`` is None,
    otherwise ``device`` instances starting at ``states`` (dimensionless). ``form`` picks the
    device form: ``"behavioural"`` (state evolves; transient programming), ``"osdi"`` (compiled
    Verilog-A) or ``"frozen"`` (state held at ``states``; DC reads).

    The subcircuit holds element arrays (:mod:`memcircuit.netlist.arrays`): the writer prints
    them cell by cell, the nodal solver stamps them whole; :func:`cell_array` finds the cells.
    """
    if form not in DEVICE_FORMS:
        raise ConfigError(f"device form must be one of {', '.join(DEVICE_FORMS)}, got {form!r}")
    R, C = spec.shape
    shape = (R, C)
    subckts: list[Subckt] = []
    models: list[Model] = []
    includes: list[str] = []
    frozen = None
    if device is None:
        if g is None:
            raise ConfigError("linear-resistor cells need a conductance matrix g (S)")
        g = check_matrix("conductance matrix", g, spec)
    else:
        if states is None:
            raise ConfigError("device cells need a state matrix")
        states = check_matrix("device states", states, spec, nonnegative=False)
        if form == "frozen":
            frozen = device.read_subckt()
            subckts.append(frozen)
        if form == "held":
            frozen = device.held_subckt()
            subckts.append(frozen)

    ii, jj = np.indices(shape)
    rport, cport = Bus("r", (R,)), Bus("c", (C,))
    row_wire, col_wire = spec.wire_row > 0, spec.wire_col > 0
    rnode = Bus("r", shape) if row_wire else None
    cnode = Bus("c", shape) if col_wire else None
    top = Pins.grid(rnode, shape) if row_wire else Pins.grid(rport, shape, (ii,))
    bottom = Pins.grid(cnode, shape) if col_wire else Pins.grid(cport, shape, (jj,))
    one_t = spec.cell == "1T1R"
    mid = Pins.grid(Bus("m", shape), shape) if one_t else bottom
    # Element order matters (see netlist.arrays.lower): row segment, cell, transistor, column
    # segment, cell by cell.
    arrays: list = []
    if row_wire:
        left = Pins.where(jj == 0, Pins.grid(rport, shape, (ii,)), Pins.grid(rnode, shape, (ii, np.maximum(jj - 1, 0))))
        arrays.append(ResistorArray("Rr", shape, (left, top), resistance=spec.wire_row))
    if device is None:
        arrays.append(CellArray("Rx", shape, (top, mid), present=g > 0, g=g))
    else:
        pins = (top, mid) if form != "held" else (top, mid, Pins.grid(Bus(STATE_PORT, shape), shape))
        arrays.append(CellArray("Xd", shape, pins, device=device, states=states, form=form,
                                frozen=frozen.name if frozen is not None else None))
    if one_t:
        if spec.transistor.model == "level1":
            models.append(level1_model(spec.transistor))
            mos_model = LEVEL1_NMOS
        else:
            includes.append(str(ptm45_card()))
            mos_model = PTM45_NMOS
        gate = Pins.grid(Bus("w", (R,)), shape, (ii,))
        arrays.append(AccessTransistorArray("Mt", shape, (mid, gate, bottom, Pins.grid(GROUND_BUS, shape)),
                                            present=None if device is not None else g > 0, model=mos_model,
                                            params=(("w", spec.transistor.w), ("l", spec.transistor.l)),
                                            transistor=spec.transistor))
    if col_wire:
        above = Pins.grid(cnode, shape, (np.maximum(ii - 1, 0), jj))
        arrays.append(ResistorArray("Rc", shape, (above, bottom), present=ii > 0, resistance=spec.wire_col))
        arrays.append(ResistorArray("Rb", (C,), (Pins.grid(cnode, (C,), (R - 1, np.arange(C))),
                                                 Pins.grid(cport, (C,))), resistance=spec.wire_col))
    if device is not None and form == "behavioural":
        subckts.append(device.behavioural_subckt())
    if device is not None and form == "osdi":
        models.append(device.osdi_model(device.osdi_model_name()))
    if spec.c_wire > 0:
        gnd = Pins.grid(GROUND_BUS, shape)
        arrays.append(CapacitorArray("Cr", shape, (top, gnd), capacitance=spec.c_wire))
        arrays.append(CapacitorArray("Cc", shape, (bottom, gnd), capacitance=spec.c_wire))
    held = tuple(Bus(STATE_PORT, shape).name(k) for k in range(R * C)) if form == "held" else ()
    return Subckt(name, ports(spec) + held, tuple(arrays)), tuple(subckts), tuple(models), tuple(includes)


def cell_array(sub: Subckt) -> CellArray:
    """The cells of a crossbar subcircuit made by :func:`crossbar_subckt`."""
    return next(e for e in sub.elements if isinstance(e, CellArray))
