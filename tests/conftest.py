"""Shared fixtures. Tests marked ``ngspice`` / ``osdi`` need the real simulator.

Locally they are skipped with a reason when ngspice (or OSDI + OpenVAF) is missing. In CI
(``CI=true``) a missing or OSDI-less ngspice fails the whole run instead: circuit-accuracy tests
must run there, never skip.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
# device test doubles (independent of memcircuit.devices), importable by every test module
sys.path.insert(0, str(DATA / "doubles"))


@functools.cache
def ngspice_status() -> tuple[bool, bool, str]:
    """(ngspice usable, OSDI usable, explanation)."""
    exe = shutil.which("ngspice")
    if not exe:
        return False, False, "ngspice is not on PATH"
    banner = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30).stdout
    match = re.search(r"ngspice-(\d+)", banner)
    if not match or int(match.group(1)) < 42:
        return False, False, f"ngspice at {exe} is older than 42"
    from memcircuit.spice.osdi import find_openvaf

    if find_openvaf() is None:
        return True, False, "no OpenVAF compiler (install the veriloga extra)"
    return True, True, ""


@pytest.fixture(autouse=True, scope="session")
def _run_dirs_in_tmp(tmp_path_factory):
    """Keep the run directories of failing simulations (kept for diagnosis) out of /tmp."""
    os.environ.setdefault("MEMCIRCUIT_RUN_ROOT", str(tmp_path_factory.mktemp("ngspice-runs")))
    yield


def pytest_collection_modifyitems(config, items):
    ok, osdi_ok, why = ngspice_status()
    in_ci = os.environ.get("CI", "").lower() in ("1", "true", "yes")
    needs_ngspice = [i for i in items if "ngspice" in i.keywords or "osdi" in i.keywords]
    needs_osdi = [i for i in items if "osdi" in i.keywords]
    if in_ci and ((needs_ngspice and not ok) or (needs_osdi and not osdi_ok)):
        pytest.exit(f"CI needs ngspice >= 42 with OSDI and OpenVAF: {why}", returncode=3)
    for item in needs_ngspice if not ok else needs_osdi if not osdi_ok else ():
        item.add_marker(pytest.mark.skip(reason=why))


@pytest.fixture(scope="session")
def shared_engine():
    """One libngspice worker for the session (tests must load their own circuit)."""
    from memcircuit.spice import SharedEngine

    engine = SharedEngine(timeout=120)
    yield engine
    engine.close()


@pytest.fixture
def update_golden() -> bool:
    """Set MEMCIRCUIT_UPDATE_GOLDEN=1 to rewrite golden files instead of comparing."""
    return os.environ.get("MEMCIRCUIT_UPDATE_GOLDEN") == "1"
