"""Training that cannot hang or lose work: finite updates, bounded programming, time limits,
partial checkpoints of the last good batch, and runs that say whether they finished."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from memcircuit.errors import NonFiniteUpdate, TrainingError, TrainingTimeout
from memcircuit.train.checkpoint import latest_checkpoint
from memcircuit.train.loop import TrainConfig, Trainer
from memcircuit.train.lowrank import StreamingNMF
from memcircuit.train.optimizers import OPTIMIZERS

DATA = Path(__file__).parent / "data" / "train"
IRIS = dict(dataset="iris", layers=(4, 6, 3), device="exp-pulse", device_options={"a_ltp": 5.0, "a_ltd": 5.0},
            epochs=3, batch=8, lr=0.3, optimizer="momentum", fidelity="ideal")
#: a learning rate per rule at which each learns iris (as in the optimizer tests)
LR = {"sgd": 1.0, "momentum": 0.3, "adaptive": 0.02, "fuzzy": 0.3, "lr-cell": 3.0, "ssm": 1.0, "stochastic": 1.0,
      "mbgd": 1.0, "pca-seq": 1.0, "pca-sum": 1.0, "nmf-seq": 1.0, "nmf-sum": 1.0}


@pytest.fixture
def alarm():
    """Fail a test instead of hanging CI if a programming loop never ends."""
    def _fire(signum, frame):
        raise AssertionError("no answer within 120 s: an unbounded loop")
    previous = signal.signal(signal.SIGALRM, _fire)
    signal.alarm(120)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def _trainer(out, **kw) -> Trainer:
    return Trainer(TrainConfig(**{**IRIS, **kw}), out)


# -- 1. the cause: NMF warm starts drifted until they overflowed -----------------------------------
def test_nmf_warm_start_from_drifted_factors_stays_finite():
    """The factors that NMF carried into epoch 6 of digits 64-24-10 (nmf-sum, seed 11): |w_r| 1e-155,
    |h_r| 1e153. Warm-started as they were, the next factorisation gave inf and NaN."""
    case = np.load(DATA / "nmf_drift_case.npz")
    m, w0, h0 = case["m"], case["w0"], case["h0"]
    assert np.linalg.norm(w0, axis=0).max() < 1e-90 < 1e90 < np.linalg.norm(h0, axis=1).min()
    dec = StreamingNMF(3, m.shape[0], m.shape[1], np.random.default_rng(0))
    dec.factors["neg"] = (w0, h0)
    f = dec.decompose(np.eye(m.shape[0]), -m)          # x^T delta = -m: its negative part is m
    assert np.all(np.isfinite(f.u)) and np.all(np.isfinite(f.v))
    approx = -f.dense() if hasattr(f, "dense") else -(f.u.T @ f.v)
    assert np.linalg.norm(approx - m) < 0.5 * np.linalg.norm(m)
    w, h = dec.factors["neg"]
    assert np.all(np.isfinite(w)) and np.all(np.isfinite(h)) and np.abs(h).max() < 1e6


@pytest.mark.slow
def test_nmf_sum_on_digits_finishes_the_epoch_that_hung(tmp_path, alarm):
    """The reported command: epoch 6 used to run for ever (NaN pulse counts)."""
    cfg = TrainConfig(dataset="digits", layers=(64, 24, 10), optimizer="nmf-sum", fidelity="numeric", epochs=6,
                      batch=32, seed=11)
    t = Trainer(cfg, tmp_path / "nmf")
    try:
        summary = t.run()
    finally:
        t.close()
    assert summary["complete"] and len(summary["epochs"]) == 6
    assert summary["final_test_acc"] > 0.7                 # 79 % measured; chance is 10 %


# -- 2. a non-finite update is a clear error with the last good batch saved -----------------------
def test_non_finite_update_names_where_and_keeps_last_good_batch(tmp_path, monkeypatch):
    t = _trainer(tmp_path / "run", epochs=2)
    n_batches = int(np.ceil(len(t.data.y_train) / t.cfg.batch))
    bad_call = n_batches + 5                  # the 5th batch of epoch 2
    calls, states_before = {"n": 0}, []
    real_step = t.optimizer.step

    def step(grads):
        calls["n"] += 1
        updates = real_step(grads)
        if calls["n"] == bad_call:
            states_before.extend(tile.states().copy() for tile in t.net.tiles())
            updates[1].dw[0, 0] = np.nan
        return updates

    monkeypatch.setattr(t.optimizer, "step", step)
    with pytest.raises(NonFiniteUpdate) as info:
        t.run()
    t.close()
    text = str(info.value)
    assert "epoch 2" in text and f"batch 5 of {n_batches}" in text and "layer 2 of 2 (6 -> 3)" in text
    assert "momentum update is not finite" in text and "epoch_0002_batch_0004.npz" in text
    # nothing of the bad batch reached the devices: the tiles hold the state before it
    for before, tile in zip(states_before, t.net.tiles()):
        assert np.array_equal(before, tile.states())
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["complete"] is False and metrics["status"] == "failed" and "final_test_acc" not in metrics
    assert metrics["epochs_done"] == 1 and "not finite" in metrics["error"]
    path, meta, arrays = latest_checkpoint(tmp_path / "run" / "checkpoints")
    assert path.name == "epoch_0002_batch_0004.npz" and meta["partial"]["batch"] == 4
    for k, before in enumerate(states_before):
        assert np.array_equal(arrays[f"tile.{k}.states"], before)


# -- 3. programming is bounded by the device range -------------------------------------------------
def test_request_beyond_the_device_range_is_an_error_not_a_loop(tmp_path, alarm):
    t = _trainer(tmp_path / "run", optimizer="mbgd", lr=1.0)
    try:
        opt, layer = t.optimizer, t.net.layers[0]
        span = opt.range_units(layer)
        assert 10 < span < 1e6
        before = [tile.states().copy() for tile in layer.all_tiles()]
        units = [[np.zeros((tile.rows, tile.cols), dtype=np.int64) for tile in row] for row in layer.tiles]
        units[0][0][0, 0] = int(10 * span)
        with pytest.raises(TrainingError, match="unit pulses on one cell"):
            opt.apply_cell_units(layer, units, np.random.default_rng(0))
        assert all(np.array_equal(b, tile.states()) for b, tile in zip(before, layer.all_tiles()))
        units[0][0][0, 0] = int(2 * span)       # within the bound: several programs, then done
        reports = opt.apply_cell_units(layer, units, np.random.default_rng(0))
        assert len(reports) >= 2
    finally:
        t.close()


# -- 4. every rule under adversarial gradients: finite, bounded pulses or the clear error ---------
def _adversarial(shapes, rng):
    """Gradient factors (x, delta) per layer for each adversarial case. The loop's errors are means
    over the batch (``delta`` of one sample / batch size), so ``1 / b`` scales the plain cases."""
    def case(make):
        return [make(n_in, n_out) for n_in, n_out in shapes]
    b = 8
    yield "zeros", case(lambda i, o: (np.zeros((b, i)), np.zeros((b, o))))
    yield "tiny", case(lambda i, o: (rng.random((b, i)) * 1e-300, rng.standard_normal((b, o)) * 1e-300))
    yield "huge", case(lambda i, o: (rng.random((b, i)) * 1e150, rng.standard_normal((b, o)) * 1e150))
    yield "all-equal", case(lambda i, o: (np.ones((b, i)), np.full((b, o), 0.5 / b)))
    yield "one-signed", case(lambda i, o: (rng.random((b, i)), -rng.random((b, o)) / b))
    yield "rank-deficient", case(lambda i, o: (np.outer(np.ones(b), rng.random(i)),
                                               np.outer(np.ones(b), rng.standard_normal(o)) / b))
    yield "nan", case(lambda i, o: (np.full((b, i), np.nan), np.ones((b, o))))
    yield "inf", case(lambda i, o: (np.ones((b, i)), np.full((b, o), np.inf)))


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_every_rule_programs_finite_bounded_pulses_or_fails_clearly(tmp_path, optimizer, alarm):
    assert len(OPTIMIZERS) == 12
    t = _trainer(tmp_path / optimizer, optimizer=optimizer, lr=LR[optimizer])
    try:
        shapes = [(n_in + 1, n_out) for n_in, n_out in zip(t.cfg.layers[:-1], t.cfg.layers[1:])]
        rng = np.random.default_rng(1)
        outcomes = {}
        for name, grads in _adversarial(shapes, rng):
            for _ in range(3):                 # a few batches: state (momentum, NMF factors) carries over
                try:
                    pulses, energy = t.update(grads, rng)
                except TrainingError as exc:
                    outcomes[name] = str(exc)
                    break
                assert np.isfinite(energy) and 0 <= pulses < 10**9
                for tile in t.net.tiles():
                    g = tile.conductances()
                    assert np.all(np.isfinite(g)) and np.all(g > 0)
            else:
                outcomes[name] = "ok"
        # the non-finite gradients are refused with the layer named, the finite ones never crash
        for name in ("nan", "inf"):
            assert "not finite" in outcomes[name] and "layer 1 of 2" in outcomes[name], outcomes[name]
        for name in ("zeros", "tiny", "all-equal", "one-signed", "rank-deficient"):
            assert outcomes[name] == "ok", (name, outcomes[name])
        assert outcomes["huge"] == "ok" or "unit pulses on one cell" in outcomes["huge"] \
            or "not finite" in outcomes["huge"], outcomes["huge"]
    finally:
        t.close()


# -- 5. time limit, partial checkpoints and exact resume --------------------------------------------
def _final(summary):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in summary["epochs"]]


@pytest.mark.parametrize("optimizer", ["momentum", "ssm", "nmf-sum"])
def test_run_interrupted_mid_epoch_resumes_to_the_same_numbers(tmp_path, monkeypatch, optimizer):
    kw = dict(optimizer=optimizer, lr=LR[optimizer], epochs=2)
    t = _trainer(tmp_path / "full", **kw)
    full = t.run()
    states = [tile.states() for tile in t.net.tiles()]
    t.close()

    t = _trainer(tmp_path / "cut", **kw)
    real, calls = t.update, {"n": 0}

    def update(grads, rng):
        calls["n"] += 1
        if calls["n"] == 22:                  # batch 7 of epoch 2
            raise KeyboardInterrupt
        return real(grads, rng)

    monkeypatch.setattr(t, "update", update)
    with pytest.raises(KeyboardInterrupt):
        t.run()
    t.close()
    metrics = json.loads((tmp_path / "cut" / "metrics.json").read_text())
    assert metrics["status"] == "interrupted" and not metrics["complete"]
    assert latest_checkpoint(tmp_path / "cut" / "checkpoints")[0].name == "epoch_0002_batch_0006.npz"

    t = _trainer(tmp_path / "cut", **kw)
    resumed = t.run(resume=True)
    assert _final(resumed) == _final(full) and resumed["complete"]
    assert all(np.array_equal(a, tile.states()) for a, tile in zip(states, t.net.tiles()))
    t.close()
    names = sorted(p.name for p in (tmp_path / "cut" / "checkpoints").iterdir())
    assert names == ["epoch_0001.npz", "epoch_0002.npz"]      # the partial one is superseded


def test_time_limit_ends_the_run_cleanly_and_resume_finishes_it(tmp_path):
    t = _trainer(tmp_path / "run", epochs=400)          # about a minute: far beyond the limit
    with pytest.raises(TrainingTimeout) as info:
        t.run(timeout=1.5)
    t.close()
    assert "time limit of 1.5 s" in str(info.value)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["status"] == "timeout" and metrics["complete"] is False and "final_test_acc" not in metrics
    found = latest_checkpoint(tmp_path / "run" / "checkpoints")
    assert found is not None and str(found[0]) in str(info.value)
    done = metrics["epochs_done"]
    t = _trainer(tmp_path / "run", epochs=done + 1)
    summary = t.run(resume=True)
    t.close()
    assert summary["complete"] and summary["epochs_done"] == done + 1


def test_cli_timeout_is_one_line_exit_2_and_resume_continues(tmp_path):
    out = tmp_path / "run"
    args = [sys.executable, "-c", "from memcircuit.cli import main; main()", "train", "--dataset", "iris",
            "--layers", "4,6,3", "--fidelity", "ideal", "--optimizer", "momentum", "--lr", "0.3", "--out", str(out)]
    proc = subprocess.run([*args, "--epochs", "400", "--timeout", "2"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "time limit of 2 s" in lines[0] and "--resume" in lines[0], proc.stderr
    done = json.loads((out / "metrics.json").read_text())["epochs_done"]
    proc = subprocess.run([*args, "--epochs", str(done + 1), "--resume"], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((out / "metrics.json").read_text())["complete"] is True


def test_sweep_train_job_ends_itself_before_the_kill_and_resumes(tmp_path):
    """A train job stops itself a little before the sweep's job timeout (``sweep --timeout``),
    keeps its checkpoint in the sweep's folder, and the same sweep run again with more time
    resumes it."""
    import yaml

    base = {"dataset": "iris", "layers": "4,6,3", "fidelity": "ideal", "optimizer": "momentum", "lr": 0.3,
            "epochs": 60}
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump({"kind": "train", "base": base, "axes": {"seed": [0]}}))
    cmd = [sys.executable, "-c", "from memcircuit.cli import main; main()", "sweep", str(tmp_path / "spec.yaml"),
           "--out", str(tmp_path / "out"), "--quiet", "--json", "-", "--timeout"]
    proc = subprocess.run([*cmd, "12"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr                  # a job that did not finish
    row = json.loads(proc.stdout)["rows"][0]
    assert row["status"] == "timeout" and "TrainingTimeout" in row["error"], row
    run = tmp_path / "out" / "jobs" / row["id"] / "run"
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["status"] == "timeout" and metrics["complete"] is False
    first = latest_checkpoint(run / "checkpoints")
    assert first is not None and 0 < first[1]["epoch"] + 1 < 60
    proc = subprocess.run([*cmd, "600"], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["ran"] == 1 and report["rows"][0]["status"] == "ok" and report["rows"][0]["complete"] is True
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["complete"] and metrics["epochs_done"] == 60
    # the second run went on from the first one's checkpoint: the earlier epochs kept their rows
    assert metrics["epochs"][:first[1]["epoch"]] == first[1]["history"]


def test_run_files_get_the_permissions_open_would_give(tmp_path):
    import os
    import stat

    mask = os.umask(0o022)
    os.umask(mask)
    t = _trainer(tmp_path / "run", epochs=1)
    t.run()
    t.close()
    for p in [tmp_path / "run" / "metrics.json", tmp_path / "run" / "config.json",
              *(tmp_path / "run" / "checkpoints").iterdir()]:
        assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~mask, p


def test_a_run_that_stops_before_its_first_batch_still_says_so(tmp_path):
    t = _trainer(tmp_path / "run", epochs=1)
    with pytest.raises(TrainingTimeout):
        t.run(timeout=1e-9)
    t.close()
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["status"] == "timeout" and metrics["complete"] is False and metrics["epochs_done"] == 0


def test_only_the_newest_partial_checkpoint_is_kept(tmp_path, monkeypatch):
    t = _trainer(tmp_path / "run", epochs=1)
    real, calls = t.update, {"n": 0}

    def update(grads, rng):
        calls["n"] += 1
        if calls["n"] in (4, 9):
            raise KeyboardInterrupt
        return real(grads, rng)

    monkeypatch.setattr(t, "update", update)
    for _ in range(2):
        with pytest.raises(KeyboardInterrupt):
            t.run(resume=True)
    t.close()
    names = sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir())
    assert names == ["epoch_0001_batch_0007.npz"], names
