"""The fidelities of a tile, written once: every list of them (command choices, tile classes,
job checks) derives from :class:`Fidelity`. A module of its own so that the command line can
name them without importing the simulators (docs/DESIGN.md, "The fidelity ladder")."""

from __future__ import annotations

from enum import StrEnum

from memcircuit.errors import ConfigError


class Fidelity(StrEnum):
    """How a tile is simulated, most faithful first (the one list of fidelities; docs/DESIGN.md)."""

    SPICE = "spice"        # reads and programming transients in ngspice
    HYBRID = "hybrid"      # ngspice reads, numeric-twin programming at the solved cell voltages
    NUMERIC = "numeric"    # own sparse nodal solver, numeric-twin programming
    IDEAL = "ideal"        # G^T V, numeric-twin programming at ideal voltages

    @property
    def ngspice(self) -> bool:
        """True when the tile runs ngspice (spice, hybrid): workers, timeouts, pulse timing apply."""
        return self in (Fidelity.SPICE, Fidelity.HYBRID)

    @classmethod
    def parse(cls, value: str | Fidelity, what: str = "fidelity") -> Fidelity:
        """``value`` as a :class:`Fidelity`; :class:`~memcircuit.errors.ConfigError` naming ``what``
        and the valid names otherwise."""
        try:
            return cls(value)
        except ValueError:
            raise ConfigError(f"{what} must be one of {', '.join(FIDELITIES)}, got {value!r}") from None


FIDELITIES: tuple[str, ...] = tuple(f.value for f in Fidelity)
NGSPICE_FIDELITIES: tuple[str, ...] = tuple(f.value for f in Fidelity if f.ngspice)
