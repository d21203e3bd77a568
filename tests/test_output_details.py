"""Small things a user notices: file permissions, --timeout on tiles, honest help, readable figures."""

from __future__ import annotations

import os

import matplotlib
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
