"""Tiles of a layer read and programmed on several threads give the sequential numbers exactly."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from memcircuit.devices import get_device
from memcircuit.errors import ConfigError
from memcircuit.tiles import TiledLayer, TilePool, half_select_program, make_tile

N, TILE = 6, (3, 3)   # a 2 x 2 grid of 3 x 3 tiles
# selected cells in three of the four tiles, both polarities
CELLS = [(1, 4, 1.5, 100e-9), (4, 1, -1.5, 100e-9), (5, 5, 1.5, 50e-9)]


def rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


@pytest.fixture
def case():
    rng = np.random.default_rng(11)
    return rng.uniform(0.2, 0.8, (N, N)), rng.uniform(-0.1, 0.1, (5, N)), rng.uniform(-0.1, 0.1, (5, N))


def run_layer(fidelity: str, parallel: int, x0, v, e, device="exp-pulse", **kw):
    with make_tile(fidelity, N, N, device=device, states=x0, r_wire=2.0, max_tile=TILE, parallel_tiles=parallel,
                   **kw) as layer:
        assert isinstance(layer, TiledLayer) and len(layer.tiles) * len(layer.tiles[0]) == 4
        forward, backward = layer.read(v), layer.read_t(e)
        report = layer.program(half_select_program(N, N, CELLS))
        return forward, backward, layer.conductances(), report


@pytest.mark.ngspice
def test_spice_parallel_tiles_equal_sequential(case):
    x0, v, e = case
    f1, b1, g1, rep1 = run_layer("spice", 1, x0, v, e)
    f2, b2, g2, rep2 = run_layer("spice", 2, x0, v, e)
    assert rel(f2, f1) < 1e-12 and rel(b2, b1) < 1e-12
    np.testing.assert_array_equal(g2, g1)
    assert rep2.pulses == rep1.pulses and rep2.energy_j == rep1.energy_j
    assert len(rep1.extra["tiles"]) == 4   # the half-selected lines reach every tile
    moved = np.abs(g1 - rep1.g_before) > 1e-3 * np.max(g1)
    assert moved[1, 4] and moved[4, 1] and moved[5, 5]   # the programs really ran


@pytest.mark.ngspice
def test_hybrid_noisy_programming_is_independent_of_thread_timing(case):
    x0, v, e = case
    noisy = get_device("exp-pulse", sigma_c2c=0.02)
    *_, g1, _ = run_layer("hybrid", 1, x0, v, e, device=noisy, seed=3)
    *_, g2, _ = run_layer("hybrid", 2, x0, v, e, device=noisy, seed=3)
    np.testing.assert_array_equal(g2, g1)


def test_each_tile_draws_its_own_noise():
    """A tile's programming noise does not depend on whether the other tiles were programmed."""
    noisy = get_device("exp-pulse", sigma_c2c=0.05)
    x0 = np.full((N, N), 0.5)

    def program(cells):
        with make_tile("numeric", N, N, device=noisy, states=x0, max_tile=TILE, seed=5) as layer:
            layer.program(half_select_program(N, N, cells))
            return layer.states()

    both = program([(1, 1, 1.5, 100e-9), (4, 4, 1.5, 100e-9)])
    alone = program([(4, 4, 1.5, 100e-9)])
    np.testing.assert_array_equal(both[3:, 3:], alone[3:, 3:])
    assert not np.array_equal(both[:3, :3], alone[:3, :3])


def test_single_tile_keeps_the_given_generator():
    rng = np.random.default_rng(1)
    with make_tile("numeric", 3, 3, device="exp-pulse", rng=rng, max_tile=TILE) as tile:
        assert tile.rng is rng


@pytest.mark.parametrize("value", [0, -1, 1.5, "2", True])
def test_bad_parallel_tiles_are_config_errors(value):
    with pytest.raises(ConfigError, match="parallel_tiles"):
        make_tile("spice", N, N, g=np.full((N, N), 1e-5), max_tile=TILE, parallel_tiles=value)


def test_parallel_tiles_need_a_simulator_fidelity():
    with pytest.raises(ConfigError, match="spice and hybrid"):
        make_tile("numeric", N, N, g=np.full((N, N), 1e-5), max_tile=TILE, parallel_tiles=2)


def test_pool_keeps_order_and_waits_for_every_call_before_raising():
    finished = []

    def work(k):
        if k == 0:
            raise ValueError("tile 0 failed")
        time.sleep(0.05)
        finished.append(k)
        return k, threading.current_thread().name

    pool = TilePool(2)
    try:
        with pytest.raises(ValueError, match="tile 0"):
            pool.map(work, [0, 1, 2])
        assert sorted(finished) == [1, 2]
        out = pool.map(work, [3, 4, 5, 6])
        assert [k for k, _ in out] == [3, 4, 5, 6]
        assert {name for _, name in out} <= {f"memcircuit-tile_{i}" for i in range(2)}
    finally:
        pool.close()



def test_device_variation_is_split_with_the_layer():
    """A layer of per-cell devices cut into tiles: every tile gets its own cells' parameters."""
    from memcircuit.devices import get_device, sample_devices

    devices = sample_devices(get_device("exp-pulse"), (6, 6), np.random.default_rng(2), spread=0.3)
    x = np.random.default_rng(3).uniform(0.2, 0.8, (6, 6))
    whole = make_tile("numeric", 6, 6, device=devices, states=x)
    split = make_tile("numeric", 6, 6, device=devices, states=x, max_tile=(4, 4))
    assert isinstance(split, TiledLayer)
    np.testing.assert_allclose(split.conductances(), whole.conductances(), rtol=1e-12)
    v = np.random.default_rng(4).uniform(-0.1, 0.1, (3, 6))
    np.testing.assert_allclose(split.read(v), whole.read(v), rtol=1e-9)
    with pytest.raises(ConfigError, match="device array holds"):
        make_tile("numeric", 5, 6, device=devices, states=x[:5])
