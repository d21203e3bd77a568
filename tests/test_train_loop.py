"""The training loop end to end: learning, metrics files, checkpoints, exact resume, CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from click.testing import CliRunner

from memcircuit.cli import cli
from memcircuit.train.loop import TrainConfig, Trainer

DEVICE = "exp-pulse"
NEAR_LINEAR = {"a_ltp": 5.0, "a_ltd": 5.0}   # mild soft bounds: tests of the loop, not of the device
FAST = dict(dataset="iris", layers=(4, 6, 3), device=DEVICE, device_options=NEAR_LINEAR, epochs=3, batch=8, lr=0.3,
            optimizer="momentum")


def _run(out, resume=False, stop_after=None, **kw):
    trainer = Trainer(TrainConfig(**{**FAST, **kw}), out)
    try:
        summary = trainer.run(resume=resume, stop_after=stop_after)
        states = [t.states() for t in trainer.net.tiles()]
    finally:
        trainer.close()
    return summary, states


def _same_rows(a, b):
    assert len(a) == len(b)
    for ra, rb in zip(a, b):
        assert {k: v for k, v in ra.items() if k != "seconds"} == {k: v for k, v in rb.items() if k != "seconds"}


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adaptive", "fuzzy", "lr-cell"])
def test_every_optimizer_learns_iris_at_ideal(tmp_path, optimizer):
    lr = {"sgd": 1.0, "momentum": 0.3, "adaptive": 0.02, "fuzzy": 0.3, "lr-cell": 3.0}[optimizer]
    summary, _ = _run(tmp_path / optimizer, optimizer=optimizer, lr=lr, epochs=6, fidelity="ideal",
                      layers=(4, 8, 3))
    rows = summary["epochs"]
    assert max(r["test_acc"] for r in rows[-3:]) >= 0.8   # chance is 1/3
    assert rows[-1]["loss"] < rows[0]["loss"]
    assert all(r["pulses"] > 0 and r["energy_j"] > 0 for r in rows)


@pytest.mark.parametrize("variant", [dict(signed="reference", optimizer="momentum", lr=0.3),
                                     dict(optimizer="lr-cell", lr_cell_per="synapse", lr=3.0),
                                     dict(optimizer="momentum", lr=0.3, periphery={"input_bits": 4, "error_bits": 4},
                                          tile_rows=3, tile_cols=4)])
def test_layouts_cells_and_quantisation_learn(tmp_path, variant):
    summary, _ = _run(tmp_path, **{**dict(epochs=6, fidelity="ideal", layers=(4, 8, 3)), **variant})
    rows = summary["epochs"]
    assert max(r["test_acc"] for r in rows[-3:]) >= 0.8
    assert rows[-1]["loss"] < rows[0]["loss"]


def test_metrics_files_and_checkpoints(tmp_path):
    summary, _ = _run(tmp_path, val_fraction=0.2, fidelity="numeric")
    data = json.loads((tmp_path / "metrics.json").read_text())
    for key in ("epoch", "train_acc", "test_acc", "loss", "pulses", "energy_j", "seconds"):
        assert all(key in row for row in data["epochs"])
    assert data["final_test_acc"] == data["epochs"][-1]["test_acc"]
    assert data["epochs"][0]["val_acc"] is not None
    csv_lines = (tmp_path / "metrics.csv").read_text().splitlines()
    assert csv_lines[0].startswith("epoch,train_acc,test_acc") and len(csv_lines) == 4
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == \
        ["epoch_0001.npz", "epoch_0002.npz", "epoch_0003.npz"]


@pytest.mark.parametrize("optimizer", ["sgd", "adaptive", "lr-cell", "fuzzy"])
def test_interrupted_run_resumes_to_the_same_result(tmp_path, optimizer):
    kw = dict(optimizer=optimizer, fidelity="numeric", epochs=2, val_fraction=0.2, max_train=60)
    full, full_states = _run(tmp_path / "full", **kw)
    part, _ = _run(tmp_path / "part", stop_after=1, **kw)
    assert len(part["epochs"]) == 1
    resumed, resumed_states = _run(tmp_path / "part", resume=True, **kw)
    _same_rows(full["epochs"], resumed["epochs"])
    for a, b in zip(full_states, resumed_states):
        np.testing.assert_array_equal(a, b)


def test_refuses_to_overwrite_and_checks_options(tmp_path):
    from memcircuit.errors import ConfigError

    _run(tmp_path, epochs=1, fidelity="ideal")
    with pytest.raises(ConfigError, match="--resume"):
        _run(tmp_path, epochs=1, fidelity="ideal")
    with pytest.raises(ConfigError, match="other options"):
        _run(tmp_path, epochs=2, fidelity="ideal", lr=0.5, resume=True)
    summary, _ = _run(tmp_path, epochs=2, fidelity="ideal", resume=True)   # more epochs is allowed
    assert [r["epoch"] for r in summary["epochs"]] == [1, 2]


def test_resumes_checkpoints_written_before_an_option_existed(tmp_path):
    """A checkpoint whose config lacks a newer option (here parallel_tiles) resumes as the same
    run when the option is at its default, and only then."""
    from memcircuit.errors import ConfigError
    from memcircuit.train.checkpoint import latest_checkpoint, save_checkpoint

    _run(tmp_path, epochs=1, fidelity="ideal")
    path, meta, arrays = latest_checkpoint(tmp_path / "checkpoints")
    del meta["config"]["parallel_tiles"]
    save_checkpoint(path, meta, arrays)
    summary, _ = _run(tmp_path, epochs=2, fidelity="ideal", resume=True)
    assert [r["epoch"] for r in summary["epochs"]] == [1, 2]
    with pytest.raises(ConfigError, match="other options"):
        _run(tmp_path, epochs=3, fidelity="ideal", lr=0.5, resume=True)


def test_early_stopping(tmp_path):
    summary, _ = _run(tmp_path, epochs=40, patience=2, val_fraction=0.3, fidelity="ideal", lr=3.0,
                      optimizer="momentum")
    assert summary["stopped_early"] and len(summary["epochs"]) < 40
    rows = summary["epochs"]
    best = min(r["val_loss"] for r in rows)
    assert all(r["val_loss"] >= best for r in rows[-2:])


def test_killed_cli_run_resumes_identically(tmp_path):
    args = ["--dataset", "iris", "--layers", "4,6,3", "--device", DEVICE, "--optimizer", "momentum",
            "--lr", "0.3", "--fidelity", "ideal", "--epochs", "3", "--batch", "6", "--seed", "3",
            "--max-train", "60", "--device-param", "a_ltp=5", "--device-param", "a_ltd=5"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-c", "from memcircuit.cli import main; main()"]
    ref = subprocess.run([*cmd, "train", *args, "--out", str(tmp_path / "ref")], env=env, capture_output=True,
                         text=True, timeout=600)
    assert ref.returncode == 0, ref.stderr
    proc = subprocess.Popen([*cmd, "train", *args, "--out", str(tmp_path / "run")], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first = tmp_path / "run" / "checkpoints" / "epoch_0001.npz"
    while not first.exists() and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    again = subprocess.run([*cmd, "train", *args, "--out", str(tmp_path / "run"), "--resume"], env=env,
                           capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    a = json.loads((tmp_path / "ref" / "metrics.json").read_text())
    b = json.loads((tmp_path / "run" / "metrics.json").read_text())
    _same_rows(a["epochs"], b["epochs"])
    assert (tmp_path / "run" / "curves.png").stat().st_size > 10_000


def test_cli_train_and_plot(tmp_path):
    runner = CliRunner()
    out = tmp_path / "run"
    res = runner.invoke(cli, ["train", "--dataset", "iris", "--layers", "4,5,3", "--device", DEVICE,
                              "--fidelity", "ideal", "--epochs", "2", "--out", str(out), "--json", "-"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["epochs"][1]["epoch"] == 2
    res = runner.invoke(cli, ["plot", "training", str(out), "-o", str(tmp_path / "c.png")])
    assert res.exit_code == 0 and (tmp_path / "c.png").stat().st_size > 10_000
    bad = runner.invoke(cli, ["train", "--dataset", "iris", "--layers", "5,3", "--device", DEVICE,
                              "--out", str(tmp_path / "bad")])
    assert bad.exit_code == 2 and "4 features" in bad.output
    bad = runner.invoke(cli, ["plot", "training", str(tmp_path / "nothing")])
    assert bad.exit_code == 2 and "metrics.json" in bad.output


@pytest.mark.ngspice
def test_spice_epoch_matches_numeric(tmp_path):
    """One epoch on a small subset with reads and programming in ngspice agrees with the numeric
    fidelity (same circuit, own solver and numeric twin): same predictions, close losses."""
    kw = dict(layers=(4, 3, 3), epochs=1, batch=10, max_train=20, max_test=12, optimizer="momentum",
              levels=100.0, max_units=8)   # coarse pulse timing: short transients
    spice, _ = _run(tmp_path / "spice", fidelity="spice", **kw)
    numeric, _ = _run(tmp_path / "numeric", fidelity="numeric", **kw)
    a, b = spice["epochs"][0], numeric["epochs"][0]
    assert a["pulses"] == b["pulses"]
    assert a["loss"] == pytest.approx(b["loss"], rel=1e-3)
    assert a["test_loss"] == pytest.approx(b["test_loss"], rel=2e-2)
    assert a["energy_j"] == pytest.approx(b["energy_j"], rel=0.2)


@pytest.mark.ngspice
def test_parallel_tiles_train_to_the_same_numbers(tmp_path):
    """Layers split over several tiles (tile size 3 x 4) at spice: simulating the tiles of a layer
    at the same time gives the same run, device states included, as one after another."""
    kw = dict(layers=(4, 3, 3), epochs=1, batch=10, max_train=20, max_test=12, levels=100.0, max_units=8,
              tile_rows=3, tile_cols=4, fidelity="spice")
    one, states_one = _run(tmp_path / "one", **kw)
    two, states_two = _run(tmp_path / "two", parallel_tiles=2, **kw)
    assert len(states_one) > 2  # several tiles per layer
    _same_rows(one["epochs"], two["epochs"])
    for a, b in zip(states_one, states_two):
        np.testing.assert_array_equal(a, b)


def test_parallel_tiles_need_a_simulator_fidelity(tmp_path):
    from memcircuit.errors import ConfigError

    with pytest.raises(ConfigError, match="spice and hybrid"):
        TrainConfig(**{**FAST, "parallel_tiles": 2})
