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
