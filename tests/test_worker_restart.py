"""A dead libngspice worker does not end a run: the engine restarts it, reloads the circuit and
retries the call once, and the numbers are those of an undisturbed run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from memcircuit.spice.shared import DIES_AT_ENV
from memcircuit.tiles import make_tile

psutil = pytest.importorskip("psutil")

pytestmark = pytest.mark.ngspice

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-c", "from memcircuit.cli import main; main()"]


def cpu_seconds(p) -> float:
    times = p.cpu_times()
    return times.user + times.system


def test_tile_read_survives_its_worker_killed_mid_read():
    rng = np.random.default_rng(0)
    g, v = rng.uniform(1e-6, 1e-4, (32, 32)), rng.uniform(-0.2, 0.2, (600, 32))  # a read of seconds
    # a TIA keeps one sweep point per input (a linear tile would read this batch as a product)
    with make_tile("spice", 32, 32, g=g, r_wire=2.5, sense="tia") as tile:
        expected = tile.read(v)
    with make_tile("spice", 32, 32, g=g, r_wire=2.5, sense="tia") as tile:
        tile.read(v[:2])  # the worker is up and has parsed the read netlist
        engine = tile.engine(0)
        worker = psutil.Process(engine.worker_pid)
        idle = cpu_seconds(worker)
        done, killed = threading.Event(), threading.Event()

        def kill_while_reading() -> None:  # SIGKILL once the worker has simulated for 0.3 s
            while not done.is_set():
                if cpu_seconds(worker) > idle + 0.3:
                    worker.kill()
                    killed.set()
                    return
                time.sleep(0.01)

        killer = threading.Thread(target=kill_while_reading)
        killer.start()
        try:
            got = tile.read(v)
        finally:
            done.set()
            killer.join()
        assert killed.is_set(), "the read ended before the worker could be killed"
        assert engine.restarts == 1
    assert np.array_equal(got, expected)


def memcircuit(tmp_path: Path, *args: str, dies_at: int | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "MEMCIRCUIT_RUN_ROOT": str(tmp_path / "runs"),
           "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    env.pop(DIES_AT_ENV, None)
    if dies_at is not None:
        env[DIES_AT_ENV] = str(dies_at)
    return subprocess.run([*CLI, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)


def test_cli_tile_read_survives_a_dead_worker(tmp_path):
    rng = np.random.default_rng(1)
    np.save(tmp_path / "G.npy", rng.uniform(1e-6, 1e-4, (8, 8)))
    np.save(tmp_path / "V.npy", rng.uniform(-0.2, 0.2, (20, 8)))
    args = ["tile", "read", "--rows", "8", "--cols", "8", "--conductances", "G.npy", "--inputs", "V.npy",
            "--r-wire", "2.5", "--fidelity", "spice", "--json", "-"]
    calm = memcircuit(tmp_path, *args)
    assert calm.returncode == 0, calm.stderr
    hit = memcircuit(tmp_path, *args, dies_at=1)  # the only read kills the first worker
    assert hit.returncode == 0, hit.stderr
    assert json.loads(hit.stdout)["currents"] == json.loads(calm.stdout)["currents"]


def test_cli_spice_training_survives_dead_workers(tmp_path):
    args = ["train", "--dataset", "iris", "--layers", "4,4,3", "--fidelity", "spice", "--epochs", "1",
            "--batch", "8", "--max-train", "24", "--max-test", "12", "--seed", "0"]
    calm = memcircuit(tmp_path, *args, "--out", "calm")
    assert calm.returncode == 0, calm.stderr
    hit = memcircuit(tmp_path, *args, "--out", "hit", dies_at=3)  # every tile's first worker dies once
    assert hit.returncode == 0, hit.stderr
    a, b = (json.loads((tmp_path / run / "metrics.json").read_text()) for run in ("calm", "hit"))
    assert [{k: v for k, v in row.items() if k != "seconds"} for row in a["epochs"]] == \
        [{k: v for k, v in row.items() if k != "seconds"} for row in b["epochs"]]
    with np.load(tmp_path / "calm/checkpoints/epoch_0001.npz") as x, \
            np.load(tmp_path / "hit/checkpoints/epoch_0001.npz") as y:
        for key in x.files:
            if key.endswith("states"):
                assert np.array_equal(x[key], y[key]), key
