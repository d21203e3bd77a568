"""Probe the simulator installation: ngspice, OSDI, KLU, libngspice, OpenVAF, PySpice."""

from __future__ import annotations

import ctypes.util
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from memcircuit import __version__, processes
from memcircuit.errors import ConfigError
from memcircuit.spice.engine import ngspice_threads
from memcircuit.spice.osdi import find_openvaf

MIN_NGSPICE = 42

_PROBE_VA = """`include "disciplines.vams"
module memcircuit_probe(p, n);
  inout p, n; electrical p, n;
  parameter real r = 1e3 from (0:inf);
  analog I(p, n) <+ V(p, n) / r;
endmodule
"""


def _ngspice_banner(exe: str) -> str:
    proc = processes.run([exe, "--version"], text=True, timeout=30, stdin=subprocess.DEVNULL)
    return proc.stdout + proc.stderr


def _osdi_probe(exe: str, compiler: Path | None) -> tuple[bool, str]:
    """Does this ngspice load OSDI modules? Compiles and loads a 1 kohm resistor when a compiler
    exists; otherwise checks that ngspice knows the ``pre_osdi`` command."""
    with tempfile.TemporaryDirectory(prefix="memcircuit-doctor-") as tmp:
        tmpdir = Path(tmp)
        if compiler is not None:
            from memcircuit.spice.osdi import compile_va

            va = tmpdir / "memcircuit_probe.va"
            va.write_text(_PROBE_VA)
            try:
                module = compile_va(va)
            except Exception as exc:  # report, do not crash the doctor
                return False, f"OpenVAF could not compile a probe model: {exc}"
            netlist = (f"osdi probe\n.model pr memcircuit_probe r=2k\nV1 a 0 1\nN1 a 0 pr\n.options klu\n"
                       f".control\npre_osdi {module}\nop\nprint i(v1)\n.endc\n.end\n")
        else:
            netlist = "osdi probe\nV1 a 0 1\nR1 a 0 1k\n.control\npre_osdi /nonexistent.osdi\n.endc\n.end\n"
        (tmpdir / "probe.cir").write_text(netlist)
        proc = processes.run([exe, "-b", "probe.cir"], cwd=tmpdir, text=True, timeout=60,
                             stdin=subprocess.DEVNULL)
        out = proc.stdout + proc.stderr
        if compiler is not None:
            match = re.search(r"i\(v1\)\s*=\s*([-+0-9.eE]+)", out)
            ok = bool(match) and abs(float(match.group(1)) + 5e-4) < 1e-9
            return ok, "compiled and loaded a probe model" if ok else "probe model did not load"
        unknown = re.search(r"pre_osdi.*(unknown|not (?:found|implemented))|no such command", out, re.I)
        return (not unknown), "pre_osdi command present (no compiler to test a real module)"


def _shared_probe() -> tuple[bool, str]:
    try:
        from memcircuit.netlist import Circuit, Op, Resistor, VoltageSource
        from memcircuit.spice.shared import SharedEngine

        circuit = Circuit("doctor", elements=(VoltageSource("V1", ("a", "0"), dc=1.0),
                                              Resistor("R1", ("a", "b"), 1e3), Resistor("R2", ("b", "0"), 1e3)))
        with SharedEngine(timeout=60) as engine:
            value = engine.run(circuit, Op()).scalar("v(b)")
        ok = abs(value - 0.5) < 1e-9
        return ok, f"libngspice divider gave {value:.6g} V (expected 0.5 V)"
    except Exception as exc:
        return False, f"{type(exc).__name__}: {exc}"


def _spinit_threads(exe: str | None) -> int | None:
    """``num_threads`` the ngspice installation's own ``spinit`` asks for (None: not set/found)."""
    if not exe:
        return None
    spinit = Path(exe).resolve().parent.parent / "share" / "ngspice" / "scripts" / "spinit"
    try:
        match = re.search(r"^\s*set\s+num_threads\s*=\s*(\d+)", spinit.read_text(errors="replace"), re.MULTILINE)
    except OSError:
        return None
    return int(match.group(1)) if match else None


def diagnose(*, shared: bool = True) -> dict[str, Any]:
    """A dict describing the installation; ``ok`` is True when everything essential works."""
    info: dict[str, Any] = {"memcircuit": __version__, "python": sys.version.split()[0]}
    exe = shutil.which("ngspice")
    info["ngspice_path"] = exe
    info["ngspice_version"] = None
    info["klu"] = False
    info["osdi"] = False
    problems: list[str] = []
    if exe:
        banner = _ngspice_banner(exe)
        match = re.search(r"ngspice-(\d+)(?:\.(\d+))?", banner)
        if match:
            info["ngspice_version"] = match.group(1) + (f".{match.group(2)}" if match.group(2) else "")
        info["klu"] = "KLU" in banner
        compiler = find_openvaf()
        info["osdi"], info["osdi_detail"] = _osdi_probe(exe, compiler)
    else:
        problems.append("ngspice not found on PATH (run scripts/setup.sh)")
        compiler = find_openvaf()
    info["openvaf"] = str(compiler) if compiler else None
    try:
        info["ngspice_threads"] = ngspice_threads()
    except ConfigError as exc:
        info["ngspice_threads"] = None
        problems.append(str(exc))
    info["spinit_num_threads"] = _spinit_threads(exe)
    info["libngspice"] = ctypes.util.find_library("ngspice")
    import PySpice  # a dependency of the package; imported here to keep `memcircuit --help` quick

    info["pyspice_version"] = PySpice.__version__
    if shared:
        info["shared_engine"], info["shared_engine_detail"] = _shared_probe()
        if not info["shared_engine"]:
            problems.append("the in-process libngspice engine does not work: " + info["shared_engine_detail"])
    version = info["ngspice_version"]
    if exe and (version is None or int(float(version)) < MIN_NGSPICE):
        problems.append(f"ngspice {version} is older than {MIN_NGSPICE}: OSDI and current KLU need >= {MIN_NGSPICE}")
    if exe and not info["klu"]:
        problems.append("ngspice was built without KLU (crossbars will be ~75x slower)")
    if exe and not info["osdi"]:
        problems.append("ngspice cannot load OSDI modules (Verilog-A models unavailable)")
    if info["openvaf"] is None:
        problems.append("no OpenVAF compiler (pip install 'memcircuit[veriloga]'); behavioural models still work")
    info["problems"] = problems
    info["ok"] = not [p for p in problems if "OpenVAF" not in p]
    return info
