"""Tile reads at every fidelity against independent references (issue 4, circuit accuracy).

References: ``G^T V`` in the ideal limit; a dense nodal solution written here from the topology
convention of docs/DESIGN.md (not from the library's solver); ngspice itself; reciprocity.
"""

from __future__ import annotations

import numpy as np
import pytest

from memcircuit.circuits import CrossbarSpec, DriverParams, TiaParams
from memcircuit.errors import ConfigError
from memcircuit.tiles import FIDELITIES, NumericTile, TiledLayer, make_tile

ALL = list(FIDELITIES)


def dense_reference(g: np.ndarray, v: np.ndarray, r_wire: float, r_out: float = 0.0,
                    drivers: bool = False) -> np.ndarray:
    """Column currents of the reference topology by a dense nodal solve (no library code).

    Unknowns: row nodes (i, j), column nodes (i, j). Row i is driven by an ideal source V_i
    through ``r_out + r_wire`` into (i, 0); segments ``r_wire`` between neighbours; column j ends
    through one more ``r_wire`` in a 0 V virtual ground; the current is ``V(R-1, j) / r_wire``.
    With ``drivers``: the (batch, rows) currents the sources push in, ``(V_i - V(i, 0)) / (r_out + r_wire)``.
    """
    rows, cols = g.shape
    n = 2 * rows * cols

    def rn(i, j):
        return i * cols + j

    def cn(i, j):
        return rows * cols + i * cols + j

    a = np.zeros((n, n))
    b = np.zeros((n, v.shape[0]))
    gw = 1.0 / r_wire

    def link(p, q, cond):
        a[p, p] += cond
        a[q, q] += cond
        a[p, q] -= cond
        a[q, p] -= cond

    for i in range(rows):
        g_in = 1.0 / (r_out + r_wire)
        a[rn(i, 0), rn(i, 0)] += g_in
        b[rn(i, 0)] += g_in * v[:, i]
        for j in range(cols):
            if j:
                link(rn(i, j - 1), rn(i, j), gw)
            if i:
                link(cn(i - 1, j), cn(i, j), gw)
            link(rn(i, j), cn(i, j), g[i, j])
    for j in range(cols):
        a[cn(rows - 1, j), cn(rows - 1, j)] += gw
    x = np.linalg.solve(a, b)
    if drivers:
        return (v.T - x[[rn(i, 0) for i in range(rows)]]).T / (r_out + r_wire)
    return (x[[cn(rows - 1, j) for j in range(cols)]] * gw).T


def rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


@pytest.fixture
def rng():
    return np.random.default_rng(20240611)


def random_case(rng, rows, cols, batch=6):
    g = rng.uniform(1e-6, 1e-4, (rows, cols))
    v = rng.uniform(-0.3, 0.3, (batch, rows))
    e = rng.uniform(-0.3, 0.3, (batch, cols))
    return g, v, e


@pytest.mark.ngspice
@pytest.mark.parametrize("fidelity", ALL)
def test_ideal_limit_equals_g_v(fidelity, rng):
    g, v, e = random_case(rng, 7, 5)
    with make_tile(fidelity, 7, 5, g=g, r_wire=0.0, sense="ideal") as tile:
        np.testing.assert_allclose(tile.read(v), v @ g, rtol=1e-6, atol=0)
        # backward read: the transpose relation
        np.testing.assert_allclose(tile.read_t(e), e @ g.T, rtol=1e-6, atol=0)
        # one vector in, one vector out
        np.testing.assert_allclose(tile.read(v[0]), v[0] @ g, rtol=1e-6)


@pytest.mark.parametrize("shape, r_wire, r_out", [((4, 3), 5.0, 0.0), ((6, 9), 1.0, 20.0), ((12, 7), 10.0, 0.0)])
def test_numeric_matches_dense_nodal_reference(shape, r_wire, r_out, rng):
    g, v, _ = random_case(rng, *shape)
    tile = make_tile("numeric", *shape, g=g, r_wire=r_wire, driver=DriverParams(r_out=r_out))
    reference = dense_reference(g, v, r_wire, r_out)
    assert rel(tile.read(v), reference) < 1e-9
    # the wires matter at this size: the ideal answer is measurably different
    assert rel(v @ g, reference) > 1e-5


@pytest.mark.ngspice
@pytest.mark.parametrize("rows, cols, r_wire, sense", [
    (3, 5, 5.0, "ideal"), (16, 9, 2.0, "ideal"), (32, 32, 2.5, "ideal"), (9, 6, 3.0, "tia"), (32, 32, 1.0, "tia"),
])
def test_numeric_equals_spice_with_wire_resistance(rows, cols, r_wire, sense, rng):
    g, v, e = random_case(rng, rows, cols, batch=5)
    kw = {"tia": TiaParams(r_f=2e3)} if sense == "tia" else {}
    numeric = make_tile("numeric", rows, cols, g=g, r_wire=r_wire, sense=sense, **kw)
    with make_tile("spice", rows, cols, g=g, r_wire=r_wire, sense=sense, **kw) as spice:
        forward, backward = spice.read(v), spice.read_t(e)
    assert rel(numeric.read(v), forward) < 1e-4
    assert rel(numeric.read_t(e), backward) < 1e-4
    if sense == "ideal":
        assert rel(forward, dense_reference(g, v, r_wire)) < 1e-6


@pytest.mark.ngspice
def test_hybrid_reads_are_spice_reads(rng):
    g, v, _ = random_case(rng, 5, 4)
    with make_tile("hybrid", 5, 4, g=g, r_wire=4.0) as hybrid:
        assert rel(hybrid.read(v), dense_reference(g, v, 4.0)) < 1e-6


@pytest.mark.parametrize("fidelity", ["numeric", pytest.param("spice", marks=pytest.mark.ngspice)])
def test_backward_is_transpose_by_reciprocity(fidelity, rng):
    """A passive linear network is reciprocal: driving column j and sensing row i gives the
    transpose of the forward transfer matrix, even with wire resistance."""
    rows, cols = 6, 4
    g, _, _ = random_case(rng, rows, cols)
    with make_tile(fidelity, rows, cols, g=g, r_wire=8.0) as tile:
        forward = tile.read(np.eye(rows))      # row k of the result: column currents for V = e_k
        backward = tile.read_t(np.eye(cols))
    np.testing.assert_allclose(backward, forward.T, rtol=1e-6)
    assert rel(forward, g) > 1e-4  # not the trivial ideal case


@pytest.mark.ngspice
def test_parallel_spice_workers_give_the_same_answer(rng):
    g, v, _ = random_case(rng, 8, 8, batch=9)
    with make_tile("spice", 8, 8, g=g, r_wire=2.0, workers=2) as two:
        assert rel(two.read(v), dense_reference(g, v, 2.0)) < 1e-6


@pytest.mark.ngspice
def test_spice_reads_parse_the_netlist_once_per_conductance_state(rng, monkeypatch):
    """New inputs are sent to the loaded netlist; new conductances give a new netlist."""
    g, v, e = random_case(rng, 6, 5, batch=7)
    with make_tile("spice", 6, 5, g=g, r_wire=3.0) as tile:
        loads, call = [], tile.engine(0)._call
        monkeypatch.setattr(tile.engine(0), "_call",
                            lambda m, **kw: (loads.append(m[0]) if m[0] == "load" else None) or call(m, **kw))
        for batch in (v, v[::-1] * 0.5, v[:1]):
            assert rel(tile.read(batch), dense_reference(g, batch, 3.0)) < 1e-6
        assert loads == ["load"]
        tile.read_t(e)  # the backward netlist is another circuit
        assert loads == ["load"] * 2
        tile.set_conductances(g[::-1].copy())
        assert rel(tile.read(v), dense_reference(g[::-1], v, 3.0)) < 1e-6
        assert loads == ["load"] * 3


def test_tiled_layer_adds_tile_currents(rng):
    g, v, e = random_case(rng, 10, 7)
    layer = make_tile("numeric", 10, 7, g=g, r_wire=0.0, max_tile=(4, 3))
    assert isinstance(layer, TiledLayer)
    assert [len(r) for r in layer.tiles] == [3, 3, 3]
    np.testing.assert_allclose(layer.read(v), v @ g, rtol=1e-9)
    np.testing.assert_allclose(layer.read_t(e), e @ g.T, rtol=1e-9)
    np.testing.assert_allclose(layer.conductances(), g)
    # with wires every tile has its own IR drop: the sum of separately solved tiles
    wired = make_tile("numeric", 10, 7, g=g, r_wire=5.0, max_tile=(4, 3))
    expected = np.zeros((v.shape[0], 7))
    for rs in (slice(0, 4), slice(4, 8), slice(8, 10)):
        for cs in (slice(0, 3), slice(3, 6), slice(6, 7)):
            expected[:, cs] += dense_reference(g[rs, cs], v[:, rs], 5.0)
    assert rel(wired.read(v), expected) < 1e-9


def test_set_conductances_and_errors(rng):
    g, v, _ = random_case(rng, 3, 4)
    tile = make_tile("ideal", 3, 4, g=g)
    g2 = g[::-1].copy()
    tile.set_conductances(g2)
    np.testing.assert_allclose(tile.read(v[:, :3]), v[:, :3] @ g2)
    assert tile.states() is None
    with pytest.raises(ConfigError):
        tile.read(np.ones((2, 5)))
    with pytest.raises(ConfigError):
        tile.set_conductances(-g)
    with pytest.raises(ConfigError):
        make_tile("analog", 3, 4, g=g)
    with pytest.raises(ConfigError):
        make_tile("ideal", 3, 4, g=g[:2])
    with pytest.raises(ConfigError):
        make_tile("numeric", 3, 4, g=g, workers=2)
    with pytest.raises(ConfigError):
        make_tile("ideal", 3, 4)  # linear cells need g
    with pytest.raises(ConfigError):
        tile.program(__import__("memcircuit.tiles", fromlist=["PulseProgram"]).PulseProgram(()))


def test_dac_quantises_inputs(rng):
    g, _, _ = random_case(rng, 3, 2)
    tile = make_tile("numeric", 3, 2, g=g, driver=DriverParams(dac_bits=3, v_full=0.7))
    v = np.array([[0.05, -0.33, 0.9]])
    levels = np.linspace(-0.7, 0.7, 8)
    snapped = levels[np.argmin(np.abs(np.clip(v[0], -0.7, 0.7)[:, None] - levels), axis=1)]
    np.testing.assert_allclose(tile.read(v)[0], snapped @ g, rtol=1e-12)


def test_numeric_factorisation_is_reused(rng):
    g, v, _ = random_case(rng, 5, 5)
    tile = NumericTile(CrossbarSpec(5, 5, r_wire=2.0), g=g)
    tile.read(v[:1])
    net = tile.solver.network("forward")
    lu = net.linear_factor()
    tile.read(v[:1])
    assert net.linear_factor() is lu and net._last_iterations == 1  # same cells: same factorisation
    tile.set_conductances(g * 1.01)
    assert tile.solver.network("forward") is net and net._lin[1] is lu  # kept: it starts the next solve
    assert rel(tile.read(v[:1]), dense_reference(g * 1.01, v[:1], 2.0)) < 1e-9
    assert net._last_iterations > 1 and net._lin[1] is lu  # refined with the stale factorisation
    tile.set_conductances(g * 2)
    assert rel(tile.read(v), dense_reference(g * 2, v, 2.0)) < 1e-9
