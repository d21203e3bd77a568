"""Whole inputs are checked before work starts; questionable input is named; one line, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest
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


@pytest.mark.parametrize("args, fragment", [
    (["build", "crossbar", "--rows", "100000", "--cols", "100000"], "100000 x 100000"),
    (["tile", "read", "--rows", "100000", "--cols", "100000", "--conductances", "G.npy", "--inputs", "V.npy"],
     "100000 x 100000"),
    (["tile", "program", "--rows", "100000", "--cols", "100000", "--device", "exp-pulse", "--conductances",
      "G.npy", "--pulses", "p.json"], "100000 x 100000"),
])
def test_sizes_beyond_memory_fail_at_once_with_the_estimate(tmp_path, args, fragment):
    proc = memcircuit(*args)
    line = one_error_line(proc, fragment, "GB by estimate", "GB of memory available")
    assert float(line.split("needs about ")[1].split(" GB")[0]) > 20
