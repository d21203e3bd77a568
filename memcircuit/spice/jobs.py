"""The ``spice`` job kind of ``memcircuit sweep``: one user netlist simulated with ``.param``
overrides, chosen vectors as metrics.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from memcircuit.errors import ConfigError
from memcircuit.netlist.ir import Op, Tran
from memcircuit.netlist.names import sanitize
from memcircuit.spice.batch import BatchEngine
from memcircuit.spice.usernetlist import UserNetlist
from memcircuit.units import format_spice, parse_si

_SPICE_KEYS = {"netlist", "analysis", "measure", "spice_timeout", "allow_include"}


def _spice_inputs(params: dict[str, Any]) -> tuple[Path, dict[str, float], Any, list[str], float]:
    """``(netlist, overrides, analysis, measure, timeout)`` of a spice job; :class:`ConfigError`
    naming the first unknown key or malformed value."""
    unknown = {k for k in params if k not in _SPICE_KEYS and not k.startswith("params.")}
    if unknown:
        raise ConfigError(f"unknown spice job parameter(s): {', '.join(sorted(unknown))}; valid: "
                          f"{', '.join(sorted(_SPICE_KEYS))}, params.<name>")
    if not isinstance(params.get("netlist"), str):
        raise ConfigError(f"a spice job needs netlist: the path of a netlist file, got {params.get('netlist')!r}")
    netlist = Path(params["netlist"])   # whether it exists is the job's concern: it may live on a Dask worker
    overrides = {k.split(".", 1)[1]: parse_si(v, name=k) for k, v in params.items() if k.startswith("params.")}
    words = str(params.get("analysis", "op")).split()
    if words == ["op"]:
        analysis = Op()
    elif len(words) == 3 and words[0] == "tran":
        analysis = Tran(parse_si(words[1], name="analysis step"), parse_si(words[2], name="analysis stop"))
    else:
        raise ConfigError(f"analysis must be 'op' or 'tran STEP STOP', got {params.get('analysis')!r}")
    measure = params.get("measure", [])
    if not isinstance(measure, list) or not all(isinstance(m, str) for m in measure):
        raise ConfigError(f"measure must be a list of vector names like v(out), got {measure!r}")
    folders = params.get("allow_include", [])
    if not isinstance(folders, list) or not all(isinstance(f, str) for f in folders):
        raise ConfigError(f"allow_include must be a list of folders, got {folders!r}")
    return netlist, overrides, analysis, measure, parse_si(params.get("spice_timeout", 120), name="spice_timeout")


def check_job(params: dict[str, Any]) -> None:
    """Validate a ``spice`` job's parameters without simulating (:class:`ConfigError`)."""
    _spice_inputs(params)


def spice_job(params: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """Simulate a netlist file with ``.param`` overrides and report chosen vectors.

    params: ``netlist`` (path), ``analysis`` ("op" or "tran STEP STOP"), ``measure`` (vector
    names; op gives the value, tran the final value), ``params.<name>`` (.param overrides, SI),
    ``spice_timeout`` (s, 120), ``allow_include`` (folders its .include/.lib cards may read
    besides its own; the CLI's ``--allow-include``).
    """
    netlist, overrides, analysis, measure, timeout = _spice_inputs(params)
    text = netlist.read_text()
    if overrides:
        lines = text.splitlines()
        card = ".param " + " ".join(f"{sanitize(k)}={format_spice(v)}" for k, v in overrides.items())
        # A later .param wins in ngspice, so the override goes right after the title line's cards.
        text = "\n".join([*lines[:-1], card, lines[-1]] if lines[-1].strip().lower() == ".end" else [*lines, card])
    user = UserNetlist.from_text(text, source=str(netlist), folder=netlist.absolute().parent,
                                 allow_include=params.get("allow_include", ()))
    result = BatchEngine(run_root=workdir, timeout=timeout).run(user, analysis)
    return {name: float(result[name][-1]) for name in measure}
