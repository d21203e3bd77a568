"""Where the files the project and its netlists use live: the Verilog-A sources in ``models/``,
the PTM 45 nm transistor card of the ngspice examples and the cache of compiled code.

One definition each, at the foundation, so that the device families (which write ``models/``),
the circuit generators (which include the PTM card) and the engines (which let a netlist include
exactly these files) name the same paths.
"""

from __future__ import annotations

import os
from pathlib import Path

from memcircuit.errors import ConfigError

#: the project's Verilog-A models (``python -m memcircuit.devices.generate`` writes them)
MODELS_DIR = Path(__file__).resolve().parents[1] / "models"


def cache_dir(kind: str) -> Path:
    """``$MEMCIRCUIT_CACHE/<kind>`` (default ``~/.cache/memcircuit/<kind>``), created: compiled
    code (OSDI modules, the native solver library) named by the hash of its sources."""
    root = os.environ.get("MEMCIRCUIT_CACHE") or Path.home() / ".cache" / "memcircuit"
    path = Path(root) / kind
    path.mkdir(parents=True, exist_ok=True)
    return path

_PTM_CANDIDATES = (
    "/usr/share/doc/ngspice/examples/klu/Circuits/technology/45nm_HP.pm",
    "/usr/share/ngspice/examples/klu/Circuits/technology/45nm_HP.pm",
    "/usr/local/share/doc/ngspice/examples/klu/Circuits/technology/45nm_HP.pm",
)


def ptm45_card() -> Path:
    """Path of the PTM 45 nm HP model card (``.model nmos``/``pmos``, BSIM4, Vdd = 1.0 V; Zhao and
    Cao 2006), from ``$MEMCIRCUIT_PTM45`` or the ngspice examples."""
    env = os.environ.get("MEMCIRCUIT_PTM45")
    for candidate in ((env,) if env else ()) + _PTM_CANDIDATES:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise ConfigError("the PTM 45 nm model card (45nm_HP.pm from the ngspice examples) was not found; "
                      "install the ngspice examples or set MEMCIRCUIT_PTM45 to the file")
