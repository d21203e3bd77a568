"""Energy of reads and programming by component, from the currents a fidelity solved.

Every tile keeps an :class:`EnergyLedger`: each read adds the energy of its drivers, array, sense
amplifiers and ADC conversions; each programming run that of its drivers and array. The numbers
come from what the fidelity solved (ngspice's currents at ``spice`` and ``hybrid``, the nodal
solution at ``numeric``, ``G^T V`` at ``ideal``); the constants below are the stated assumptions
(docs/ASSUMPTIONS.md, "Energy").

Read of one input vector (held for :data:`T_READ` s): with source voltages ``V_k`` and source
currents ``I_k`` of the driven lines, sense-node voltages ``v_j`` and TIA outputs ``o_j``:

* drivers: ``sum_k I_k^2 r_out`` (the driver output resistance);
* array: ``sum_k V_k I_k - drivers - sum_j v_j i_j`` (cells and wires; ``i_j`` the current into
  sense amplifier ``j``), i.e. what the sources deliver minus what leaves into the periphery;
* sense amplifiers: ideal sensing 0; a TIA ``sum_j (v_j i_j + V_swing |i_f,j|)``: the power
  entering its input plus what its class-B output stage draws from rails at ``+-V_swing`` to
  sink the feedback current ``i_f = (v_j - o_j) / r_f``;
* ADC: one conversion per sensed line, :func:`adc_conversion_energy` each.

Programming: drivers ``sum I_k^2 r_out``, array the rest of what the sources deliver (every cell
on a driven line, half-selected ones included, and the wires).
"""

from __future__ import annotations

import numpy as np

from memcircuit.circuits.spec import CrossbarSpec

T_READ = 10e-9
"""s: how long one input vector is applied in a read (drivers, array and sense amplifiers draw
power for this time; a typical word-line pulse of RRAM compute-in-memory macros)."""

ADC_FOM = 10e-15
"""J per conversion step (Walden figure of merit, IEEE JSAC 17(4), 1999): a conversion of ``b``
bits costs ``ADC_FOM * 2**b`` J, typical of SAR ADCs in B. Murmann's ADC Performance Survey."""

READ_PARTS = ("drivers", "array", "sense", "adc")
PROGRAM_PARTS = ("drivers", "array", "lr_cells")


def adc_conversion_energy(bits: int) -> float:
    """Energy (J) of one ADC conversion of ``bits`` bits (:data:`ADC_FOM` ``* 2**bits``)."""
    return ADC_FOM * 2.0**bits


class EnergyLedger:
    """Energy (J) a tile has used so far, by phase (``read``, ``program``) and component."""

    def __init__(self) -> None:
        self.parts = {"read": dict.fromkeys(READ_PARTS, 0.0), "program": dict.fromkeys(PROGRAM_PARTS, 0.0)}

    def add(self, phase: str, **joules: float) -> None:
        for name, value in joules.items():
            self.parts[phase][name] += float(value)

    def snapshot(self) -> dict[str, dict[str, float]]:
        return {phase: dict(parts) for phase, parts in self.parts.items()}

    def take(self) -> dict[str, dict[str, float]]:
        """The snapshot, and the ledger back to zero (per-batch sums that do not depend on what
        came before, so a resumed run books the same numbers)."""
        out = self.snapshot()
        self.__init__()
        return out


def flat_energy(parts: dict[str, dict[str, float]]) -> dict[str, float]:
    """``{"energy_read_drivers_j": ..., ..., "energy_total_j": ...}``: the components and their sum."""
    out = {f"energy_{phase}_{name}_j": value for phase, group in parts.items() for name, value in group.items()}
    out["energy_total_j"] = float(sum(out.values()))
    return out


def sum_energy(items) -> dict[str, dict[str, float]]:
    """Component-wise sum of ledger snapshots."""
    total = EnergyLedger()
    for parts in items:
        for phase, group in parts.items():
            total.add(phase, **group)
    return total.snapshot()


def read_energy(spec: CrossbarSpec, v_src: np.ndarray, i_src: np.ndarray, v_sense: np.ndarray | None = None,
                v_out: np.ndarray | None = None, t_read: float = T_READ) -> dict[str, float]:
    """Energy (J) of a batch read by component (see the module doc). ``v_src``/``i_src``: (batch,
    driven lines) source voltages (V) and currents into the network (A); ``v_sense``/``v_out``:
    (batch, sensed lines) TIA input and output voltages (V), None for ideal sensing (0 V)."""
    p_src = float(np.sum(v_src * i_src))
    drivers = float(np.sum(i_src**2)) * spec.driver.r_out
    sense = into_sense = 0.0
    n_sensed = 0 if v_sense is None else np.size(v_sense)
    if spec.sense == "tia" and v_sense is not None:
        i_f = (v_sense - v_out) / spec.tia.r_f
        into_sense = float(np.sum(v_sense * i_f))
        sense = into_sense + spec.tia.opamp.v_high * float(np.sum(np.abs(i_f)))
    adc = n_sensed * adc_conversion_energy(spec.adc.bits) if spec.adc is not None else 0.0
    return {"drivers": drivers * t_read, "array": (p_src - drivers - into_sense) * t_read,
            "sense": sense * t_read, "adc": adc}
