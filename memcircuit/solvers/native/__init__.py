"""The native CHOLMOD binding of :mod:`memcircuit.solvers.factor` (``ldl.c``), compiled by the
system C compiler against the system SuiteSparse (``libsuitesparse-dev``) and loaded with ctypes.

``scripts/setup.sh`` builds it (``python -m memcircuit.solvers.native``); a first use builds it
too. The library lives in ``$MEMCIRCUIT_CACHE/native`` named by the SHA-256 of the source, the
compile command and the CPU's features, so an edited source is rebuilt and an unchanged one never
is. When it cannot be
built or loaded, :func:`library` returns None and says why in :func:`unavailable_reason`.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

from memcircuit import paths, processes

SOURCE = Path(__file__).with_name("ldl.c")
INCLUDE = "/usr/include/suitesparse"
# -O3 -march=native vectorises the length-k loops with the machine's widest registers (AVX2 here:
# the forward and backward solves took 0.6x the time of -O3 alone, which took 0.6x of -O2 for the
# forward one); -ffp-contract=off keeps every product and sum as written (no fused multiply-add),
# so the numbers do not depend on the instruction set. The library's name includes the CPU's
# feature flags: a cache shared between different machines builds one library for each.
_FLAGS = ["-O3", "-march=native", "-ffp-contract=off", "-shared", "-fPIC", f"-I{INCLUDE}"]
_LIBS = ["-lcholmod"]

_STATE: dict = {}

_P = ctypes.c_void_p
_I = ctypes.c_int64
_PTR = ctypes.POINTER(ctypes.c_int64)
_SIGNATURES = {  # name: (result, arguments)
    "mc_start": (_P, []),
    "mc_finish": (None, [_P]),
    "mc_analyze": (_P, [_P, _I, _P, _P, ctypes.c_int]),
    "mc_factorize": (ctypes.c_int, [_P, _P, _I, _P, _P, _P, ctypes.c_int, ctypes.POINTER(_P)]),
    "mc_free_factor": (None, [_P, _P]),
    "mc_factor_arrays": (ctypes.c_int, [_P] + [ctypes.POINTER(_P)] * 5),
    "mc_solve_full": (ctypes.c_int, [_P, _P, _I, _I, _P, _P]),
    "mc_etree": (None, [_I, _P, _P, _P, _P]),
    "mc_reach": (None, [_P, _I, _P, _P]),
    "mc_forward": (None, [_P, _P, _P, _P, _I, _P, _I, _P]),
    "mc_backward": (None, [_P, _P, _P, _P, _I, _P, _I, _P]),
    "mc_permute": (None, [_I, _I, _P, _P, _P]),
    "mc_unpermute": (None, [_I, _I, _P, _P, _P]),
}


def _cpu() -> str:
    """The CPU's feature flags (Linux), else its platform name: what ``-march=native`` builds for."""
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("flags"):
                    return line
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _compiler() -> list[str] | None:
    """The C compiler command: ``$CC`` (which may carry arguments, e.g. ``ccache gcc``) when its
    program exists, else ``cc`` or ``gcc`` on the PATH."""
    given = shlex.split(os.environ.get("CC", ""))
    if given and shutil.which(given[0]):
        return given
    found = shutil.which("cc") or shutil.which("gcc")
    return [found] if found else None


def build() -> Path:
    """Compile ``ldl.c`` into the cache (if not there yet) and return the library's path.
    Raises :class:`OSError` with the compiler's message when it cannot be built."""
    cc = _compiler()
    if cc is None:
        raise OSError("no C compiler (cc) found")
    if not Path(INCLUDE, "cholmod.h").is_file():
        raise OSError(f"the CHOLMOD headers are missing ({INCLUDE}/cholmod.h: libsuitesparse-dev)")
    digest = hashlib.sha256(SOURCE.read_bytes())
    digest.update(" ".join([*cc, *_FLAGS, *_LIBS, _cpu()]).encode())
    target = paths.cache_dir("native") / f"ldl-{digest.hexdigest()[:16]}.so"
    if target.is_file():
        return target
    # built beside its target: os.replace is atomic only within one filesystem
    with tempfile.TemporaryDirectory(prefix=".build-", dir=target.parent) as tmp:
        out = Path(tmp) / target.name
        proc = processes.run([*cc, *_FLAGS, "-o", str(out), str(SOURCE), *_LIBS], text=True,
                             timeout=300, stdin=subprocess.DEVNULL)
        if proc.returncode != 0 or not out.is_file():
            message = (proc.stderr or proc.stdout).strip().splitlines()
            raise OSError(f"{shlex.join(cc)} failed on {SOURCE.name}: " + " | ".join(message[-4:]))
        os.replace(out, target)  # atomic publish: a reader never sees a half-written library
    return target


def library() -> ctypes.CDLL | None:
    """The loaded library with its signatures declared, or None (see :func:`unavailable_reason`)."""
    if "lib" not in _STATE:
        try:
            lib = ctypes.CDLL(str(build()))
            for name, (res, argtypes) in _SIGNATURES.items():
                fn = getattr(lib, name)
                fn.restype, fn.argtypes = res, argtypes
            _STATE["lib"], _STATE["why"] = lib, None
        except (OSError, subprocess.SubprocessError) as err:
            _STATE["lib"], _STATE["why"] = None, str(err)
    return _STATE["lib"]


def unavailable_reason() -> str | None:
    """Why :func:`library` is None (None when it loaded)."""
    library()
    return _STATE["why"]
