"""SIGINT and SIGTERM end every command with its workers, ngspice processes and run folders.

Each test starts the real CLI in a session of its own (run folders and temporary files in
``tmp_path``), waits until its simulator children are busy, signals the CLI process only, and
checks: exit code 130 / 143, one line on stderr, no process of the command left, no
``memcircuit-run-*`` folder left and no result written.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import yaml

from memcircuit.train.checkpoint import load_checkpoint

psutil = pytest.importorskip("psutil")

pytestmark = pytest.mark.ngspice

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-c", "from memcircuit.cli import main; main()"]
# a transient ngspice cannot finish in any test's lifetime (1 ps steps for 1 s)
ENDLESS = "endless\nV1 a 0 PULSE(0 1 0 1p 1p 1n 2n)\nR1 a b 1k\nC1 b 0 1p\n.tran 1p 1 0 1p\n.end\n"
WAIT = 120.0  # generous bound for anything to happen on a loaded machine
_seen: list = []  # every process a test's command started, killed at teardown if still there


@pytest.fixture(autouse=True)
def _no_leftovers():
    """Whatever a failing test leaves running is killed, so that it cannot load the machine."""
    yield
    for p in _seen:
        with contextlib.suppress(psutil.Error):
            p.kill()
    _seen.clear()


def wait_for(condition: Callable[[], object], what: str, timeout: float = WAIT) -> object:
    """Poll ``condition`` until it returns something true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout:g} s waiting for {what}")


def start_cli(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """The CLI in its own session; run folders in tmp_path/runs, temporary files in tmp_path/tmp."""
    (tmp_path / "tmp").mkdir(exist_ok=True)
    environ = {**os.environ, "MEMCIRCUIT_RUN_ROOT": str(tmp_path / "runs"), "TMPDIR": str(tmp_path / "tmp"),
               "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", **(env or {})}
    proc = subprocess.Popen([*CLI, *args], cwd=tmp_path, env=environ, start_new_session=True,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _seen.append(psutil.Process(proc.pid))
    return proc


def descendants(proc: subprocess.Popen) -> list:
    try:
        found = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    _seen.extend(found)
    return found


def is_worker(p) -> bool:
    """A libngspice worker of the shared engine."""
    try:
        return "memcircuit.spice.shared" in " ".join(p.cmdline())
    except psutil.Error:
        return False


def is_ngspice(p) -> bool:
    try:
        return p.name() == "ngspice"
    except psutil.Error:
        return False


def busy(p, seconds: float) -> bool:
    """``p`` has used ``seconds`` of CPU (it is past its start-up and simulating)."""
    try:
        times = p.cpu_times()
    except psutil.Error:
        return False
    return times.user + times.system >= seconds


def group_members(pgid: int) -> list[int]:
    out = []
    for p in psutil.process_iter():
        try:
            if os.getpgid(p.pid) == pgid:
                out.append(p.pid)
        except (ProcessLookupError, psutil.Error):
            pass
    return out


def assert_all_gone(procs: list) -> None:
    _, alive = psutil.wait_procs(procs, timeout=WAIT)
    assert not alive, f"still running: {[(p.pid, p.cmdline()) for p in alive]}"


def interrupt(proc: subprocess.Popen, signum: int, children: list) -> None:
    """Signal the CLI process only; check its exit, its one stderr line and that nothing is left."""
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=WAIT)
    assert proc.returncode == 128 + signum, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and signal.Signals(signum).name in lines[0] and "interrupted" in lines[0], stderr
    assert_all_gone(children)
    wait_for(lambda: not group_members(proc.pid), "the command's process group to empty")


def assert_no_run_folders(tmp_path: Path) -> None:
    assert not list((tmp_path / "runs").glob("memcircuit-run-*"))
    assert not list((tmp_path / "tmp").iterdir()), "temporary files left behind"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_simulate_shared_stops_its_worker(tmp_path, signum):
    (tmp_path / "endless.cir").write_text(ENDLESS)
    proc = start_cli(tmp_path, "simulate", "endless.cir", "--engine", "shared", "--json", "out.json")
    worker = wait_for(lambda: next((p for p in descendants(proc) if is_worker(p)), None), "the worker")
    wait_for(lambda: busy(worker, 1.5), "the worker to simulate")
    interrupt(proc, signum, [worker])
    assert not (tmp_path / "out.json").exists()
    assert_no_run_folders(tmp_path)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_simulate_batch_stops_ngspice_and_removes_its_run_folder(tmp_path, signum):
    (tmp_path / "endless.cir").write_text(ENDLESS)
    proc = start_cli(tmp_path, "simulate", "endless.cir", "--json", "out.json")
    ngspice = wait_for(lambda: next((p for p in descendants(proc) if is_ngspice(p)), None), "ngspice")
    assert list((tmp_path / "runs").glob("memcircuit-run-*"))
    interrupt(proc, signum, [ngspice])
    assert not (tmp_path / "out.json").exists()
    assert_no_run_folders(tmp_path)


def files(folder: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


def test_spice_training_stops_its_workers_and_keeps_only_its_last_good_batch(tmp_path):
    """On the way out the run saves the state before the batch in progress and marks itself
    unfinished (nothing is lost, nothing looks complete); after the exit nothing writes."""
    proc = start_cli(tmp_path, "train", "--dataset", "iris", "--layers", "4,4,3", "--fidelity", "spice",
                     "--epochs", "100", "--batch", "4", "--out", "run")
    wait_for(lambda: any(busy(p, 1.5) for p in descendants(proc) if is_worker(p)), "a worker to simulate")
    children = descendants(proc)
    interrupt(proc, signal.SIGTERM, children)
    after_exit = files(tmp_path / "run")
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["complete"] is False and metrics["status"] == "interrupted" and "final_test_acc" not in metrics
    # a partial checkpoint exists once a batch has finished (a signal during the first batch leaves
    # none: there is nothing to keep); resuming from one is tested in test_train_robustness.py
    for partial in (tmp_path / "run" / "checkpoints").glob("epoch_*_batch_*.npz"):
        assert load_checkpoint(partial)[0]["partial"]["batch"] >= 1
    time.sleep(2.0)
    assert files(tmp_path / "run") == after_exit
    assert_no_run_folders(tmp_path)


def test_spice_tile_read_stops_its_worker(tmp_path):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "G.npy", rng.uniform(1e-6, 1e-4, (32, 32)))
    np.save(tmp_path / "V.npy", rng.uniform(-0.2, 0.2, (20000, 32)))  # a read of a minute or more
    # a TIA makes the read circuit non-linear: one sweep point per input (a linear tile would read
    # this batch as a product with W, in a second)
    proc = start_cli(tmp_path, "tile", "read", "--rows", "32", "--cols", "32", "--conductances", "G.npy",
                     "--inputs", "V.npy", "--fidelity", "spice", "--sense", "tia", "--json", "out.json")
    worker = wait_for(lambda: next((p for p in descendants(proc) if is_worker(p)), None), "the worker")
    wait_for(lambda: busy(worker, 1.5), "the worker to simulate")
    interrupt(proc, signal.SIGINT, [worker])
    assert not (tmp_path / "out.json").exists()
    assert_no_run_folders(tmp_path)


def endless_sweep(tmp_path: Path, jobs: int) -> Path:
    (tmp_path / "endless.cir").write_text(ENDLESS)
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump({"kind": "spice", "base": {"netlist": "endless.cir", "analysis": "tran 1p 1",
                                                              "spice_timeout": 600},
                                    "axes": {"params.r": list(range(1, jobs + 1))}, "timeout": 600}))
    return spec


def test_sweep_stops_its_jobs_and_writes_no_results(tmp_path):
    spec = endless_sweep(tmp_path, 3)
    out = tmp_path / "out"
    proc = start_cli(tmp_path, "sweep", str(spec), "--out", str(out), "--workers", "2", "--quiet")
    wait_for(lambda: len([p for p in descendants(proc) if is_ngspice(p)]) == 2, "two jobs running ngspice")
    children = descendants(proc)
    interrupt(proc, signal.SIGTERM, children)
    assert not list(out.glob("jobs/*/outcome.json")), "a killed job wrote its outcome"
    assert not (out / "results.csv").exists()
    assert_no_run_folders(tmp_path)


def test_shared_worker_ends_when_the_command_is_killed(tmp_path):
    (tmp_path / "endless.cir").write_text(ENDLESS)
    proc = start_cli(tmp_path, "simulate", "endless.cir", "--engine", "shared")
    worker = wait_for(lambda: next((p for p in descendants(proc) if is_worker(p)), None), "the worker")
    wait_for(lambda: busy(worker, 1.5), "the worker to simulate")
    proc.kill()  # no handler runs: the worker must notice on its own
    proc.communicate(timeout=WAIT)
    assert_all_gone([worker])


def test_batch_ngspice_ends_when_the_command_is_killed(tmp_path):
    (tmp_path / "endless.cir").write_text(ENDLESS)
    proc = start_cli(tmp_path, "simulate", "endless.cir")
    ngspice = wait_for(lambda: next((p for p in descendants(proc) if is_ngspice(p)), None), "ngspice")
    proc.kill()
    proc.communicate(timeout=WAIT)
    assert_all_gone([ngspice])


def test_sweep_jobs_end_when_the_sweep_is_killed(tmp_path):
    spec = endless_sweep(tmp_path, 2)
    proc = start_cli(tmp_path, "sweep", str(spec), "--out", str(tmp_path / "out"), "--workers", "2", "--quiet")
    wait_for(lambda: len([p for p in descendants(proc) if is_ngspice(p)]) == 2, "two jobs running ngspice")
    children = descendants(proc)
    proc.kill()
    proc.communicate(timeout=WAIT)
    assert_all_gone(children)
