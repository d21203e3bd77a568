"""Checkpoint files: round trip, no pickle, damaged files skipped."""

from __future__ import annotations

import numpy as np
import pytest

from memcircuit.errors import ConfigError
from memcircuit.train.checkpoint import checkpoint_path, latest_checkpoint, load_checkpoint, save_checkpoint


def test_round_trip_and_latest(tmp_path):
    rng = np.random.default_rng(0)
    a = {"x": rng.normal(size=(3, 4)), "n": np.array(7)}
    save_checkpoint(checkpoint_path(tmp_path, 1), {"epoch": 1, "rng": rng.bit_generator.state}, a)
    save_checkpoint(checkpoint_path(tmp_path, 2), {"epoch": 2}, {"x": a["x"] + 1})
    meta, arrays = load_checkpoint(checkpoint_path(tmp_path, 1))
    np.testing.assert_array_equal(arrays["x"], a["x"])
    assert meta["rng"]["state"] == rng.bit_generator.state["state"]
    # a damaged newest file (a run killed while writing outside the atomic rename) is skipped
    checkpoint_path(tmp_path, 3).write_bytes(b"PK\x03\x04 truncated")
    path, meta, _ = latest_checkpoint(tmp_path)
    assert path.name == "epoch_0002.npz" and meta["epoch"] == 2
    assert latest_checkpoint(tmp_path / "none") is None
    assert not list(tmp_path.glob(".*"))   # no temporary files left behind


def test_errors(tmp_path):
    with pytest.raises(ConfigError):
        load_checkpoint(tmp_path / "missing.npz")
    with pytest.raises(ValueError):
        save_checkpoint(tmp_path / "c.npz", {}, {"__meta__": np.zeros(1)})
    np.savez(tmp_path / "p.npz", __meta__=np.array("{}"), o=np.empty(1, dtype=object))
    with pytest.raises(ConfigError, match="pickle"):   # object arrays would need pickle: refused
        load_checkpoint(tmp_path / "p.npz")
