"""Small things a user notices: file permissions, --timeout on tiles, honest help, readable figures."""

from __future__ import annotations

import json
import os
import re

import matplotlib
import numpy as np
import pytest
from test_cli_foundation import memcircuit

matplotlib.use("Agg")


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_result_files_get_the_permissions_open_would_give(tmp_path, umask, mode):
    from memcircuit.cli.common import emit_json

    old = os.umask(umask)
    try:
        emit_json({"a": 1}, str(tmp_path / "out.json"))
    finally:
        os.umask(old)
    assert (tmp_path / "out.json").stat().st_mode & 0o777 == mode


def test_a_netlist_from_build_is_0644(tmp_path):
    old = os.umask(0o022)
    try:
        proc = memcircuit("build", "crossbar", "--rows", "2", "--cols", "2", "-o", str(tmp_path / "x.cir"))
    finally:
        os.umask(old)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "x.cir").stat().st_mode & 0o777 == 0o644


@pytest.mark.ngspice
@pytest.mark.parametrize("command", ["read", "program"])
def test_tile_commands_take_a_timeout(tmp_path, command):
    np.save(tmp_path / "G.npy", np.full((4, 4), 1e-5))
    np.save(tmp_path / "V.npy", np.full((2, 4), 0.1))
    (tmp_path / "p.json").write_text(json.dumps({"steps": [{"rows": [0, 0.5, 0, 0], "cols": [0, 0, -0.5, 0],
                                                            "row_widths": 1e-6, "col_widths": 1e-6}]}))
    extra = ["--inputs", str(tmp_path / "V.npy")] if command == "read" else ["--pulses", str(tmp_path / "p.json")]
    proc = memcircuit("tile", command, "--rows", "4", "--cols", "4", "--device", "exp-pulse", "--conductances",
                      str(tmp_path / "G.npy"), *extra, "--fidelity", "spice", "--timeout", "1m")
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert "0.001 s" in lines[0], lines[0]


def test_the_v2_example_of_tile_program_help_says_what_half_selected_cells_do():
    from memcircuit.tiles import PulseProgram, make_tile

    text = memcircuit("tile", "program", "--help").stdout
    program = json.loads(re.search(r"echo '(.*?)' > p\.json", text, re.S).group(1))
    with make_tile("numeric", 4, 4, device="exp-pulse", g=np.full((4, 4), 1e-5)) as tile:
        report = tile.program(PulseProgram.from_json(program))
    change = np.abs(report.g_after - report.g_before)
    assert change[1, 2] > 1e-6
    assert max(change[1, 0], change[0, 2]) / change[1, 2] < 1e-3  # "less than 0.1 %"
    assert "less than 0.1 %" in text and "0.6 V threshold" in text


def _visible_ticks(axis) -> list[float]:
    lo, hi = sorted(axis.get_view_interval())
    return [t for t in axis.get_majorticklocs() if lo <= t <= hi]


def test_training_figure_of_one_epoch_has_integer_ticks_a_visible_loss_and_readable_energy():
    from memcircuit.plot.training import plot_programming, plot_training

    metrics = {"epochs": [{"epoch": 1, "train_acc": 0.4, "test_acc": 0.7, "loss": 1.04, "pulses": 5713,
                           "energy_j": 1.73e-9}], "config": {}}
    ax = plot_training(metrics)
    assert _visible_ticks(ax.xaxis) == [1.0]
    loss = [line for a in ax.figure.axes for line in a.lines if line.get_label() == "training loss"][0]
    assert loss.get_marker() not in (None, "None", "")
    bottom = plot_programming(metrics)
    assert _visible_ticks(bottom.xaxis) == [1.0]
    energy = bottom.figure.axes[-1]
    assert energy.get_yscale() == "linear" and "(nJ)" in energy.get_ylabel()


def test_iv_loop_voltage_ticks_leave_room_for_their_labels():
    from memcircuit.plot.device import plot_iv_loop

    v = np.sin(np.linspace(0, 2 * np.pi, 200))
    ax = plot_iv_loop(v, 1e-3 * v)
    assert len(_visible_ticks(ax.xaxis)) <= 6


def test_times_in_titles_and_messages_carry_si_prefixes():
    from memcircuit.units import format_si

    assert [format_si(1e-7, "s"), format_si(0.58, "V"), format_si(1.73e-9, "J"), format_si(2.5e6, "Hz")] == [
        "100 ns", "580 mV", "1.73 nJ", "2.5 MHz"]


@pytest.mark.ngspice
def test_models_pulses_title_prints_100_ns(tmp_path):
    proc = memcircuit("models", "pulses", "exp-pulse", "--n", "3", "--amp", "1", "--width", "100n",
                      "--plot", str(tmp_path / "p.png"))
    assert proc.returncode == 0, proc.stderr
    assert "1 V x 100 ns" in proc.stdout + proc.stderr and "1e-07" not in proc.stdout + proc.stderr


def test_sweep_plot_labels_its_axes_in_words():
    from memcircuit.plot.sweep import plot_sweep_table

    rows = [{"status": "ok", "seed": s, "device.spread": d, "final_test_acc": 0.9 - d + 0.01 * s}
            for s in (0, 1) for d in (0.0, 0.1)]
    ax = plot_sweep_table(rows, "device.spread", "final_test_acc")
    assert ax.get_xlabel() == "device-to-device spread (relative σ)"
    assert ax.get_ylabel() == "final test accuracy, mean ± std"
    one = plot_sweep_table([{"status": "ok", "params.r1": "1k", "v(b)": 0.5}], "params.r1", "v(b)")
    assert (one.get_xlabel(), one.get_ylabel()) == ("netlist parameter r1", "voltage at b (V)")
