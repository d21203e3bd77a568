"""Pruned triangular solves of the native CHOLMOD binding (``memcircuit/solvers/native/ldl.c``).

A right-hand side that is non-zero only at the line-end nodes reaches a fraction of L's columns,
and the terminal currents need only the unknowns next to a terminal; both prunings are exact.
Checked against CHOLMOD's own full solve of the same factor (the kernels' full path), scipy's
``spsolve`` (SuperLU, an independent factorisation) and the nodal network's full solution.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from memcircuit.circuits import CrossbarSpec
from memcircuit.circuits.netlists import read_probes
from memcircuit.errors import ConfigError
from memcircuit.solvers import cholmod_available, factorize
from memcircuit.tiles.numeric import crossbar_network


def rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def _line_end_rhs(net, rng, k: int) -> tuple[np.ndarray, np.ndarray]:
    """A right-hand side of ``k`` random drives (non-zero at the driven line ends only) and the
    rows where it may be non-zero."""
    drive = rng.uniform(-1, 1, (net.topo.drive_terms.size, k))
    rhs = net._linear_currents(None, -net._terminals(drive))
    return rhs, net._rhs_rows


def test_the_native_binding_is_built_and_used():
    from memcircuit.solvers import native

    assert cholmod_available(), native.unavailable_reason()  # scripts/setup.sh builds it; no silent fallback
    rng = np.random.default_rng(0)
    net = crossbar_network(CrossbarSpec(6, 5, r_wire=1.0), "forward", g=rng.uniform(1e-6, 1e-3, (6, 5)))
    assert type(net.linear_factor()).__name__ == "NativeFactorization"


@pytest.mark.parametrize(("rows", "cols", "mode"), [(12, 9, "forward"), (40, 24, "backward"), (64, 64, "bias")])
def test_pruned_solves_equal_full_and_splu(rows, cols, mode):
    rng = np.random.default_rng(rows * cols)
    spec = CrossbarSpec(rows, cols, r_wire_row=2.0, r_wire_col=0.8)
    # the first matrix analyses its pattern; the second (same topology, new cells) reuses it
    first = None
    for seen in (False, True):
        net = crossbar_network(spec, mode, g=rng.uniform(1e-6, 1e-3, (rows, cols)))
        a = net.y_uu
        f = factorize(a, symmetric=True, method="cholmod")
        sym = f.handle.sym
        assert (sym is first) == seen  # the pattern cache's analysis, with the reaches it holds
        first = sym
        b, nonzero = _line_end_rhs(net, rng, 5)
        assert not np.any(np.delete(b, nonzero, axis=0))  # the rows name every non-zero
        full = f.solve(b)
        reference = spla.spsolve(a.tocsc(), b)
        pruned = f.solve(b, rows=nonzero)
        assert rel(full, reference) < 1e-12
        assert full.flags.f_contiguous and rel(f.solve(np.ascontiguousarray(b)), reference) < 1e-12  # either layout
        assert rel(pruned, full) < 1e-12
        assert rel(pruned, reference) < 1e-12
        want = np.sort(rng.choice(a.shape[0], 17, replace=False))
        assert rel(f.solve(b, rows=nonzero, want=want), reference[want]) < 1e-12
        assert rel(f.solve(b, want=want), reference[want]) < 1e-12
        one = f.solve(b[:, 0], rows=nonzero, want=want)
        assert one.shape == (want.size,) and rel(one, reference[want, 0]) < 1e-12
        # the pruning is real: the line ends reach part of the columns of L
        assert sym.reach(sym.inverse[nonzero]).size < a.shape[0]


def test_factorisations_and_pruned_solves_from_threads_equal_one_thread():
    """ctypes releases the GIL: threads factorising and solving at once (CHOLMOD's shared
    workspace is locked, the reach cache too) give the numbers of one thread."""
    import threading

    rng = np.random.default_rng(5)
    spec = CrossbarSpec(24, 20, r_wire=1.0)
    nets = [crossbar_network(spec, "forward", g=rng.uniform(1e-6, 1e-3, (24, 20))) for _ in range(4)]
    rhs = [_line_end_rhs(net, rng, 6) for net in nets]
    alone = [factorize(n.y_uu, symmetric=True).solve(b, rows=r) for n, (b, r) in zip(nets, rhs)]
    together: list = [None] * len(nets)

    def work(k: int) -> None:
        for _ in range(4):
            b, r = rhs[k]
            together[k] = factorize(nets[k].y_uu, symmetric=True).solve(b, rows=r)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(len(nets))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for a, b in zip(together, alone):
        np.testing.assert_array_equal(a, b)


def test_terminal_currents_from_the_pruned_solve_equal_the_full_solution():
    rng = np.random.default_rng(4)
    spec = CrossbarSpec(30, 20, r_wire=1.5)
    net = crossbar_network(spec, "forward", g=rng.uniform(1e-6, 1e-3, spec.shape))
    v = rng.uniform(-0.3, 0.3, (7, 30))
    sensed = read_probes(spec).sensed
    full, part = net.solve(v), net.solve(v, terminals_only=True)
    assert part.x.shape[0] < full.x.shape[0]
    assert rel(part.values(sensed), full.values(sensed)) < 1e-12
    assert rel(part.external_currents(), full.external_currents()) < 1e-12
    splu = crossbar_network(spec, "forward", g=net._g_cells.reshape(spec.shape), factor_method="splu")
    assert rel(part.values(sensed), splu.solve(v).values(sensed)) < 1e-12
    with pytest.raises(ConfigError, match="terminal currents only"):
        part.cell_voltages()


def test_bias_solves_with_the_pruned_forward_equal_splu():
    rng = np.random.default_rng(6)
    spec = CrossbarSpec(24, 16, r_wire=1.0)
    g = rng.uniform(1e-6, 1e-3, spec.shape)
    drive = rng.uniform(-1.5, 1.5, (9, 40))
    ours = crossbar_network(spec, "bias", g=g).solve(drive)
    ref = crossbar_network(spec, "bias", g=g, factor_method="splu").solve(drive)
    assert rel(ours.cell_voltages(), ref.cell_voltages()) < 1e-12
    assert rel(ours.external_currents(), ref.external_currents()) < 1e-12


def test_a_matrix_that_is_not_positive_definite_falls_back_to_splu():
    rng = np.random.default_rng(2)
    net = crossbar_network(CrossbarSpec(8, 6, r_wire=1.0), "forward", g=rng.uniform(1e-6, 1e-3, (8, 6)))
    # symmetric, non-singular, indefinite with an exact zero pivot (CHOLMOD's LDL^T does not pivot)
    a = sp.block_diag([net.y_uu, sp.csc_matrix([[0.0, 1e-3], [1e-3, 0.0]])], format="csc")
    b = rng.normal(size=(a.shape[0], 3))
    f = factorize(a, symmetric=True)
    assert f.method == "splu"
    assert rel(a @ f.solve(b), b) < 1e-12
    with pytest.raises(ConfigError, match="not positive definite"):
        factorize(a, symmetric=True, method="cholmod")


def test_a_fresh_cache_builds_the_library_once(tmp_path, monkeypatch):
    import tempfile

    from memcircuit.solvers import native

    monkeypatch.setenv("MEMCIRCUIT_CACHE", str(tmp_path))
    # built beside the cache, not in the system's temporary folder (another filesystem there would
    # break the atomic rename into the cache)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no-such-folder"))
    built = native.build()
    assert built.parent == tmp_path / "native" and built.is_file()
    assert sorted(p.name for p in built.parent.iterdir()) == [built.name]  # no build folder left
    stamp = built.stat().st_mtime_ns
    assert native.build() == built and built.stat().st_mtime_ns == stamp  # cached by content hash


def test_without_the_binding_superlu_solves_and_the_log_says_why(monkeypatch, caplog):
    from memcircuit.solvers import factor, native

    def no_compiler():
        raise OSError("no C compiler (cc) found")

    monkeypatch.setattr(native, "build", no_compiler)
    monkeypatch.setattr(native, "_STATE", {})
    monkeypatch.setattr(factor, "_NATIVE", [])
    rng = np.random.default_rng(9)
    net = crossbar_network(CrossbarSpec(7, 5, r_wire=1.0), "forward", g=rng.uniform(1e-6, 1e-3, (7, 5)))
    b = rng.normal(size=(net.y_uu.shape[0], 2))
    with caplog.at_level("WARNING", logger="memcircuit.solvers.factor"):
        f = factorize(net.y_uu, symmetric=True)
    assert f.method == "splu" and "no C compiler" in caplog.text
    assert rel(net.y_uu @ f.solve(b), b) < 1e-12
    with pytest.raises(ConfigError, match="no C compiler"):
        factorize(net.y_uu, symmetric=True, method="cholmod")
