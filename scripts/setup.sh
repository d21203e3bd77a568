#!/usr/bin/env bash
# Idempotent set-up: ngspice >= 42 with OSDI and KLU plus libngspice, a .venv with memcircuit and
# its pinned dependencies, and the Verilog-A models compiled to OSDI. Safe to run again: every
# step checks first and does nothing when already done.
#
#   bash scripts/setup.sh            # what `make demo` and `make test` run first
#   MEMCIRCUIT_SKIP_APT=1 ...        # never touch system packages (you installed ngspice yourself)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
MIN_NGSPICE=42
say() { printf '[setup] %s\n' "$*" >&2; }
die() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else die "need root to run: $* (run as root or install sudo)"; fi
}

ngspice_major() {
  command -v ngspice >/dev/null 2>&1 || { echo 0; return; }
  ngspice --version 2>/dev/null | sed -n 's/.*ngspice-\([0-9]\+\).*/\1/p' | head -n1 | grep . || echo 0
}

have_libngspice() {
  ldconfig -p 2>/dev/null | grep -q 'libngspice\.so ' || ls /usr/lib/*/libngspice.so /usr/lib/libngspice.so >/dev/null 2>&1
}

debian_uri() {
  # The URI this machine already uses for Debian's main archive (deb822 or one-line format).
  local uri=""
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    uri=$(awk '/^URIs:/ {u=$2} /^Suites:/ && /bookworm( |$)/ && u!="" {print u; exit}' /etc/apt/sources.list.d/debian.sources)
  fi
  if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
    uri=$(awk '$1=="deb" && $3=="bookworm" {print $2; exit}' /etc/apt/sources.list)
  fi
  echo "${uri:-http://deb.debian.org/debian}"
}

install_ngspice() {
  local id="" codename="" version=""
  [ -r /etc/os-release ] && . /etc/os-release && id="${ID:-}" codename="${VERSION_CODENAME:-}" version="${VERSION_ID:-}"
  export DEBIAN_FRONTEND=noninteractive
  if [ "$id" = "debian" ] && [ "$codename" = "bookworm" ]; then
    if ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
      local uri; uri=$(debian_uri)
      say "adding bookworm-backports from $uri (bookworm's own ngspice 39 has no OSDI)"
      printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
        "$uri" | as_root tee /etc/apt/sources.list.d/memcircuit-backports.sources >/dev/null
    fi
    as_root apt-get update -q
    as_root apt-get install -y -q -t bookworm-backports ngspice libngspice0 libngspice0-dev
  elif [ "$id" = "ubuntu" ] && [ "${version%%.*}" -ge 24 ] 2>/dev/null; then
    as_root apt-get update -q
    as_root apt-get install -y -q ngspice libngspice0 libngspice0-dev
  elif [ "$id" = "debian" ] && [ "${version%%.*}" -ge 13 ] 2>/dev/null; then
    as_root apt-get update -q
    as_root apt-get install -y -q ngspice libngspice0 libngspice0-dev
  else
    die "cannot install ngspice here ($id $codename $version). Install ngspice >= $MIN_NGSPICE built with OSDI and KLU, and libngspice (the shared library, unversioned libngspice.so), then rerun with MEMCIRCUIT_SKIP_APT=1."
  fi
}

# 1. ngspice ---------------------------------------------------------------------------------
major=$(ngspice_major)
if [ "$major" -ge "$MIN_NGSPICE" ] && have_libngspice; then
  say "ngspice $major with libngspice: present"
elif [ -n "${MEMCIRCUIT_SKIP_APT:-}" ]; then
  die "ngspice >= $MIN_NGSPICE and libngspice are missing (found ngspice $major) and MEMCIRCUIT_SKIP_APT is set"
else
  say "installing ngspice >= $MIN_NGSPICE (found: $major)"
  install_ngspice
  major=$(ngspice_major)
  [ "$major" -ge "$MIN_NGSPICE" ] || die "ngspice is still $major after installing"
  have_libngspice || die "libngspice.so is still missing after installing"
fi
ngspice --version 2>/dev/null | grep -q KLU || die "this ngspice was built without KLU"

# 1b. SuiteSparse (CHOLMOD, METIS) and OpenBLAS for the numeric solver's sparse Cholesky --------
# The project's CHOLMOD binding (memcircuit/solvers/native/ldl.c, step 2b) is compiled by the C
# compiler against the system SuiteSparse headers; OpenBLAS replaces the reference BLAS under
# CHOLMOD's supernodal factorisation (about 2x faster at 256 x 256 tiles). The project limits it
# to one thread per process (memcircuit/threads.py).
have_suitesparse() { [ -f /usr/include/suitesparse/cholmod.h ] && ldconfig -p 2>/dev/null | grep -q 'libopenblas\.so\.0' && command -v cc >/dev/null 2>&1; }
if have_suitesparse; then
  say "SuiteSparse (CHOLMOD) and OpenBLAS: present"
elif [ -n "${MEMCIRCUIT_SKIP_APT:-}" ]; then
  say "WARNING: SuiteSparse headers or OpenBLAS missing and MEMCIRCUIT_SKIP_APT is set: install libsuitesparse-dev and libopenblas0-pthread, or the numeric solver falls back to SuperLU"
else
  say "installing SuiteSparse (CHOLMOD) and OpenBLAS"
  export DEBIAN_FRONTEND=noninteractive
  pkgs="libsuitesparse-dev libopenblas0-pthread build-essential"
  # shellcheck disable=SC2086
  as_root apt-get install -y -q $pkgs || { as_root apt-get update -q && as_root apt-get install -y -q $pkgs; }
  have_suitesparse || die "SuiteSparse headers or OpenBLAS still missing after installing"
fi

# 2. Python environment ------------------------------------------------------------------------
PY="${PYTHON:-python3}"
"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 10))' || die "$PY is older than 3.10"
if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV"
  if ! "$PY" -m venv "$VENV" 2>/dev/null; then
    [ -n "${MEMCIRCUIT_SKIP_APT:-}" ] && die "python venv module missing (apt-get install python3-venv)"
    as_root apt-get install -y -q python3-venv && "$PY" -m venv "$VENV"
  fi
fi
stamp="$VENV/.memcircuit-setup"
want=$(cat "$ROOT/setup.cfg" "$ROOT/pyproject.toml" "$ROOT/requirements/constraints.txt" | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  say "installing memcircuit and pinned dependencies into $VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -c "$ROOT/requirements/constraints.txt" \
      -e "$ROOT[dev,veriloga,dask,mnist,onnx]"
  # badcrossbar: independent (Qucs-validated) nodal solver the wire-resistance tests compare with.
  # --no-deps: its declared plotting dependencies (pycairo, sigfig) would build cairo bindings from
  # source; its solver needs only numpy, scipy and pathvalidate.
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps \
      -c "$ROOT/requirements/constraints.txt" badcrossbar pathvalidate
  echo "$want" > "$stamp"
else
  say "python packages: up to date"
fi

# 2b. The numeric solver's CHOLMOD binding (memcircuit/solvers/native/ldl.c), compiled against the
# system SuiteSparse into the cache (named by the source's hash; instant when unchanged) -------
if [ -f /usr/include/suitesparse/cholmod.h ]; then
  "$VENV/bin/python" -m memcircuit.solvers.native || die "the native CHOLMOD solver did not build"
fi

# 3. Verilog-A models -> OSDI (cached by source hash; instant when unchanged) ------------------
shopt -s nullglob
vas=("$ROOT"/models/*.va)
if [ ${#vas[@]} -gt 0 ]; then
  "$VENV/bin/python" - "${vas[@]}" <<'PY'
import sys
from memcircuit.spice.osdi import compile_va
for path in sys.argv[1:]:
    compile_va(path)
print(f"[setup] {len(sys.argv) - 1} Verilog-A models compiled (OSDI cache)", file=sys.stderr)
PY
fi
say "ready"
