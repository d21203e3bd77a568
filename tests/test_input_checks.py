"""Whole inputs are checked before work starts; questionable input is named; one line, exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from test_cli_foundation import memcircuit

DATA = Path(__file__).parent / "data"


def one_error_line(proc, *fragments: str) -> str:
    """The process failed with exit code 2 and one stderr line that names every fragment."""
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


DIVIDER = str(DATA / "sweep" / "divider.cir")
TRAIN = {"dataset": "iris", "layers": [4, 6, 3], "epochs": 1, "fidelity": "ideal"}
BAD_SPECS = [
    ({"kind": "train", "base": {**TRAIN, "epoch": 2}, "axes": {"seed": [0, 1]}}, "epoch"),
    ({"kind": "train", "base": TRAIN, "axes": {"seeds": [0, 1]}}, "seeds"),
    ({"kind": "train", "base": TRAIN, "axes": {"fidelity": ["ideal", "spcie"]}}, "spcie"),
    ({"kind": "train", "base": TRAIN, "axes": {"epochs": ["five"]}}, "epochs"),
    ({"kind": "train", "base": TRAIN, "axes": {"opt.rhoo": [0.9]}}, "rhoo"),
    ({"kind": "train", "base": TRAIN, "axes": {"tile_cols": [8, 1]}}, "tile_cols"),
    ({"kind": "train", "base": TRAIN, "axes": {"layers": [[4, 6, 3], [4, 8, 2]]}}, "4,8,2"),
    ({"kind": "train", "base": TRAIN, "axes": {"dataset": ["iris", "wine"]}}, "wine has 13 features"),
    ({"kind": "device", "base": {"mode": "pulse"}, "axes": {"n": [5]}}, "pulse"),
    ({"kind": "device", "base": {"mode": "pulses"}, "axes": {"amp": ["1x"]}}, "amp"),
    ({"kind": "device", "base": {"form": "verilog"}, "axes": {"amp": [1]}}, "verilog"),
    ({"kind": "tile", "base": {"fidelity": "numerc"}, "axes": {"rows": [4]}}, "numerc"),
    ({"kind": "tile", "base": {}, "axes": {"rows": [4, 0]}}, "rows"),
    ({"kind": "tile", "base": {}, "axes": {"row": [4]}}, "row"),
    ({"kind": "spice", "base": {"netlist": DIVIDER, "measure": ["v(b)"]}, "axes": {"analysis": ["tarn 1u 1m"]}},
     "analysis"),
    ({"kind": "spice", "base": {"netlist": DIVIDER}, "axes": {"measure": ["v(b)"]}}, "measure"),
    ({"kind": "spice", "base": {"netlist": DIVIDER, "analyis": "op"}, "axes": {"params.r1": ["1k"]}}, "analyis"),
]


@pytest.mark.parametrize("spec, key", BAD_SPECS, ids=[f"{s['kind']}-{k}" for s, k in BAD_SPECS])
def test_sweep_spec_is_checked_before_any_job_runs(tmp_path, spec, key):
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    out = tmp_path / "out"
    one_error_line(memcircuit("sweep", str(path), "--out", str(out), "--quiet"), key)
    assert not (out / "jobs").exists()  # no job was started


def test_sweep_json_to_a_folder_fails_before_any_job_runs(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump({"kind": "tile", "base": {}, "axes": {"rows": [4]}}))
    out = tmp_path / "out"
    one_error_line(memcircuit("sweep", str(path), "--out", str(out), "--json", str(tmp_path)), "is a directory")
    assert not (out / "jobs").exists()


def test_sweep_size_beyond_memory_fails_with_the_estimate(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump({"kind": "tile", "base": {"cols": 100000}, "axes": {"rows": [8, 100000]}}))
    proc = memcircuit("sweep", str(path), "--out", str(tmp_path / "out"), "--quiet")
    line = one_error_line(proc, "GB", "rows=100000")
    assert "8 x 100000" not in line


def test_sweep_axis_values_of_the_right_kind_pass_the_check():
    from memcircuit.cli.sweep import JOB_KINDS
    from memcircuit.parallel import SweepSpec

    SweepSpec.from_dict({"kind": "train", "base": {**TRAIN, "lr": "50m", "optimizer": "adaptive"},
                         "axes": {"seed": [0, 1], "device.spread": [0.0, 0.1], "opt.rho": [0.9]}},
                        kinds=JOB_KINDS).check()
    SweepSpec.from_dict({"kind": "device", "base": {"mode": "pulses", "width": "100n"},
                         "axes": {"amp": [1, "1.2"]}}, kinds=JOB_KINDS).check()
    SweepSpec.from_dict({"kind": "tile", "base": {"device": "exp-pulse"}, "axes": {"rows": [4, 8]}},
                        kinds=JOB_KINDS).check()


def test_train_json_to_a_folder_fails_before_training(tmp_path):
    out = tmp_path / "run"
    one_error_line(memcircuit("train", "--epochs", "1", "--fidelity", "ideal", "--out", str(out), "--json",
                              str(tmp_path)), "--json", str(tmp_path))
    assert not (out / "metrics.json").exists()


@pytest.mark.parametrize("args, fragment", [
    (["build", "crossbar", "--rows", "100000", "--cols", "100000"], "100000 x 100000"),
    (["tile", "read", "--rows", "100000", "--cols", "100000", "--conductances", "G.npy", "--inputs", "V.npy"],
     "100000 x 100000"),
    (["tile", "program", "--rows", "100000", "--cols", "100000", "--device", "exp-pulse", "--conductances",
      "G.npy", "--pulses", "p.json"], "100000 x 100000"),
    (["train", "--layers", "4,100000,3", "--fidelity", "spice", "--out", "run"], "4,100000,3"),
])
def test_sizes_beyond_memory_fail_at_once_with_the_estimate(tmp_path, args, fragment):
    proc = memcircuit(*(str(tmp_path / a) if a in ("G.npy", "V.npy", "p.json", "run") else a for a in args))
    line = one_error_line(proc, fragment, "GB by estimate", "GB of memory available")
    assert float(line.split("needs about ")[1].split(" GB")[0]) > 20


def test_plot_training_of_a_malformed_metrics_file_is_one_line(tmp_path):
    for text in ('{"epochs": [{"epoch": 1, "train_acc": "x"}]}', '[1, 2]', '{"epochs": 3}',
                 '{"epochs": [{"pulses": 2}]}'):
        (tmp_path / "metrics.json").write_text(text)
        one_error_line(memcircuit("plot", "training", str(tmp_path), "-o", str(tmp_path / "c.png")),
                       "metrics.json")
    (tmp_path / "metrics.json").write_text(json.dumps({"epochs": [{"epoch": 1, "train_acc": 0.5}]}))
    proc = memcircuit("plot", "training", str(tmp_path), "-o", str(tmp_path / "c.png"))
    assert proc.returncode == 0, proc.stderr
    assert np.asarray(bytearray((tmp_path / "c.png").read_bytes()[:4])).tolist() == [137, 80, 78, 71]


def _tile_files(tmp_path: Path, inputs: np.ndarray) -> list[str]:
    """G.npy (mid-range exp-pulse conductances of a 4 x 4 tile) and V.npy, as CLI arguments."""
    np.save(tmp_path / "G.npy", np.full((4, 4), 1e-5))
    np.save(tmp_path / "V.npy", inputs)
    return ["--rows", "4", "--cols", "4", "--conductances", str(tmp_path / "G.npy"),
            "--inputs", str(tmp_path / "V.npy")]


@pytest.mark.parametrize("shape", [(4,), (0, 4), (2, 2, 4)])
def test_tile_read_inputs_of_the_wrong_rank_are_one_line(tmp_path, shape):
    one_error_line(memcircuit("tile", "read", *_tile_files(tmp_path, np.zeros(shape))), "--inputs", str(shape))


def test_read_voltages_above_the_device_threshold_are_named(tmp_path):
    quiet = memcircuit("tile", "read", "--device", "exp-pulse", *_tile_files(tmp_path, np.full((2, 4), 0.2)))
    assert quiet.returncode == 0 and "warning" not in quiet.stderr, quiet.stderr
    loud = memcircuit("tile", "read", "--device", "exp-pulse", *_tile_files(tmp_path, np.full((2, 4), 0.9)))
    assert loud.returncode == 0, loud.stderr
    warnings = [line for line in loud.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "900 mV" in warnings[0] and "threshold" in warnings[0], loud.stderr


def _program(tmp_path: Path, steps: list[dict]):
    np.save(tmp_path / "G.npy", np.full((4, 4), 1e-5))
    (tmp_path / "p.json").write_text(json.dumps({"steps": steps}))
    return memcircuit("tile", "program", "--rows", "4", "--cols", "4", "--device", "exp-pulse", "--conductances",
                      str(tmp_path / "G.npy"), "--pulses", str(tmp_path / "p.json"))


def _step(v_row: float, width: float = 1e-6) -> dict:
    return {"rows": [0, v_row, 0, 0], "cols": [0, 0, -v_row, 0], "row_widths": width, "col_widths": width}


def test_an_empty_pulse_program_is_one_line(tmp_path):
    one_error_line(_program(tmp_path, []), "--pulses", "no steps")


@pytest.mark.parametrize("step, fragment", [
    (_step(0.2), "barely moves"),   # 0.4 V across the selected cell: under the 0.6 V threshold
    (_step(10.0), "above"),         # 20 V: far beyond what the device is calibrated for
    (_step(0.5, width=10.0), "10 s"),  # a 10 s pulse: 1e8 standard pulses of the device
])
def test_programming_far_outside_the_device_range_is_named(tmp_path, step, fragment):
    proc = _program(tmp_path, [step])
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and fragment in warnings[0], proc.stderr
    assert "warning" not in _program(tmp_path, [_step(0.5)]).stderr


def test_resume_without_a_run_is_named(tmp_path):
    proc = memcircuit("train", "--epochs", "1", "--fidelity", "ideal", "--out", str(tmp_path / "run"), "--resume")
    assert proc.returncode == 0, proc.stderr
    assert [line for line in proc.stderr.splitlines() if line.startswith("warning:")] == [
        f"warning: --resume: {tmp_path / 'run'} holds no checkpoint; starting a new run"]


@pytest.mark.ngspice
@pytest.mark.parametrize("engine", ["batch", "shared"])
def test_a_floating_node_in_a_user_netlist_is_reported(engine):
    proc = memcircuit("simulate", str(DATA / "netlist" / "floating.cir"), "--op", "--engine", engine)
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("warning:")]
    assert warnings == ["warning: ngspice: singular matrix: check node e"], proc.stderr
    clean = memcircuit("simulate", str(DATA / "sweep" / "divider.cir"), "--op")
    assert clean.returncode == 0 and "warning" not in clean.stderr, clean.stderr


def test_a_tile_size_too_small_for_a_signed_weight_is_one_line(tmp_path):
    one_error_line(memcircuit("train", "--tile-size", "8x1", "--out", str(tmp_path / "run")), "--tile-size", "8x1")


@pytest.mark.ngspice
@pytest.mark.parametrize("command", ["tile-read", "tile-program", "simulate"])
def test_an_output_that_is_a_folder_fails_before_the_simulation(tmp_path, command):
    np.save(tmp_path / "G.npy", np.full((4, 4), 1e-5))
    np.save(tmp_path / "V.npy", np.full((2, 4), 0.1))
    (tmp_path / "p.json").write_text(json.dumps({"steps": [_step(0.5)]}))
    tile = ["--rows", "4", "--cols", "4", "--device", "exp-pulse", "--conductances", str(tmp_path / "G.npy"),
            "--fidelity", "spice"]
    args = {"tile-read": ["tile", "read", *tile, "--inputs", str(tmp_path / "V.npy"), "--json", str(tmp_path)],
            "tile-program": ["tile", "program", *tile, "--pulses", str(tmp_path / "p.json"), "--json", str(tmp_path)],
            "simulate": ["simulate", str(DATA / "sweep" / "divider.cir"), "--json", str(tmp_path)]}[command]
    one_error_line(memcircuit(*args), "is a directory")
