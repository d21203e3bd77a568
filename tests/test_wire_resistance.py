"""Separate word-line (row) and bit-line (column) wire resistance, against badcrossbar.

badcrossbar (Joksas and Mehonic, SoftwareX 12, 2020; MIT) solves the same crossbar topology by
nodal analysis and was validated against Qucs; it takes separate word-line and bit-line segment
resistances. Rows are driven at their left end, columns end in a 0 V virtual ground below the last
row, one segment per cell on both lines, as in memcircuit's topology. Its backward read is the
forward read of the array turned by 180 degrees and transposed (our column j, driven from its
bottom end, is its word line C-1-j; our row i, sensed at its left end, its bit line R-1-i).
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pytest

from memcircuit.circuits import CrossbarSpec
from memcircuit.tiles import make_tile

with warnings.catch_warnings():
    warnings.simplefilter("ignore")             # its plotting half needs cairo; the solver does not
    import badcrossbar  # installed by scripts/setup.sh
logging.getLogger("badcrossbar").setLevel(logging.WARNING)

#: (word-line ohm, bit-line ohm) per segment: unequal both ways, and one ideal line
WIRES = [(1.5, 7.0), (6.0, 0.5), (0.0, 4.0), (3.0, 0.0)]


def _reference_forward(g: np.ndarray, v: np.ndarray, r_row: float, r_col: float) -> np.ndarray:
    """(batch, cols) column currents for (batch, rows) row voltages."""
    sol = badcrossbar.compute(v.T, 1.0 / g, r_i_word_line=r_row, r_i_bit_line=r_col,
                              node_voltages=False, all_currents=False)
    return np.atleast_2d(sol.currents.output)


def _reference_backward(g: np.ndarray, e: np.ndarray, r_row: float, r_col: float) -> np.ndarray:
    """(batch, rows) row currents for (batch, cols) column voltages (see module doc)."""
    turned = np.rot90(g, 2).T                       # [k, b] = g[R-1-b, C-1-k]
    out = _reference_forward(turned, e[:, ::-1], r_col, r_row)
    return out[:, ::-1]


def _cases(rng: np.random.Generator, rows: int, cols: int, batch: int):
    g = rng.uniform(1e-5, 1e-3, (rows, cols))      # 1 kohm .. 100 kohm cells: wires matter
    v = rng.uniform(-0.2, 0.2, (batch, rows))
    e = rng.uniform(-0.2, 0.2, (batch, cols))
    return g, v, e


@pytest.mark.parametrize("r_row, r_col", WIRES)
def test_numeric_reads_equal_badcrossbar_with_unequal_wires(r_row, r_col):
    g, v, e = _cases(np.random.default_rng(3), 9, 7, 5)
    with make_tile("numeric", 9, 7, g=g, r_wire_row=r_row, r_wire_col=r_col) as tile:
        fwd, bwd = tile.read(v), tile.read_t(e)
    ref_f, ref_b = _reference_forward(g, v, r_row, r_col), _reference_backward(g, e, r_row, r_col)
    np.testing.assert_allclose(fwd, ref_f, rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(bwd, ref_b, rtol=1e-9, atol=1e-15)
    # the wires matter: the ideal read differs by far more than the tolerance
    assert np.max(np.abs(v @ g - ref_f)) > 1e-3 * np.max(np.abs(ref_f))


@pytest.mark.ngspice
@pytest.mark.parametrize("r_row, r_col", WIRES[:3])
def test_spice_reads_equal_badcrossbar_with_unequal_wires(r_row, r_col):
    g, v, e = _cases(np.random.default_rng(4), 8, 6, 4)
    with make_tile("spice", 8, 6, g=g, r_wire_row=r_row, r_wire_col=r_col) as tile:
        fwd, bwd = tile.read(v), tile.read_t(e)
    np.testing.assert_allclose(fwd, _reference_forward(g, v, r_row, r_col), rtol=1e-7, atol=1e-13)
    np.testing.assert_allclose(bwd, _reference_backward(g, e, r_row, r_col), rtol=1e-7, atol=1e-13)


def test_r_wire_sets_both_and_each_line_can_override():
    assert CrossbarSpec(2, 2, r_wire=2.5).wire_row == CrossbarSpec(2, 2, r_wire=2.5).wire_col == 2.5
    spec = CrossbarSpec(2, 3, r_wire=2.5, r_wire_col=0.0)
    assert (spec.wire_row, spec.wire_col, spec.ideal_wires) == (2.5, 0.0, False)
    assert CrossbarSpec(2, 2, r_wire_row=0.0, r_wire_col=0.0, r_wire=9.0).ideal_wires


def test_netlist_has_segments_only_on_resistive_lines():
    from memcircuit.circuits.crossbar import crossbar_subckt
    from memcircuit.netlist.arrays import lower

    sub = crossbar_subckt(CrossbarSpec(2, 3, r_wire_row=2.0, r_wire_col=0.0), g=np.full((2, 3), 1e-4))[0]
    wires = {e.name: e for e in lower(sub.elements) if e.name.startswith(("Rr", "Rc", "Rb"))}
    assert sorted(wires) == [f"Rr{i}_{j}" for i in range(2) for j in range(3)]
    assert all(w.resistance == 2.0 for w in wires.values())
    sub = crossbar_subckt(CrossbarSpec(2, 3, r_wire_row=0.0, r_wire_col=5.0), g=np.full((2, 3), 1e-4))[0]
    names = sorted(e.name for e in lower(sub.elements) if e.name.startswith(("Rr", "Rc", "Rb")))
    assert names == ["Rb0", "Rb1", "Rb2", "Rc1_0", "Rc1_1", "Rc1_2"]


# -- the command line ------------------------------------------------------------------------------
def _cli(*args: str):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-c", "from memcircuit.cli import main; main()", *map(str, args)],
                          capture_output=True, text=True, timeout=300)


def test_cli_tile_read_with_separate_wires_equals_badcrossbar(tmp_path):
    import json

    g, v, e = _cases(np.random.default_rng(5), 6, 5, 3)
    np.save(tmp_path / "G.npy", g)
    np.save(tmp_path / "V.npy", v)
    np.save(tmp_path / "E.npy", e)
    common = ["tile", "read", "--rows", 6, "--cols", 5, "--conductances", tmp_path / "G.npy", "--r-wire", 9.0,
              "--r-wire-row", 2.0, "--r-wire-col", 0.5, "--fidelity", "numeric", "--json", "-"]
    fwd = _cli(*common, "--inputs", tmp_path / "V.npy")
    bwd = _cli(*common, "--inputs", tmp_path / "E.npy", "--transpose")
    assert fwd.returncode == 0 and bwd.returncode == 0, fwd.stderr + bwd.stderr
    data = json.loads(fwd.stdout)
    assert (data["r_wire_row"], data["r_wire_col"]) == (2.0, 0.5)
    np.testing.assert_allclose(data["currents"], _reference_forward(g, v, 2.0, 0.5), rtol=1e-9)
    np.testing.assert_allclose(json.loads(bwd.stdout)["currents"], _reference_backward(g, e, 2.0, 0.5), rtol=1e-9)


def test_cli_build_crossbar_writes_each_line_with_its_own_resistance(tmp_path):
    out = tmp_path / "xbar.cir"
    proc = _cli("build", "crossbar", "--rows", 3, "--cols", 2, "--r-wire-row", "1.5", "--r-wire-col", "4k", "-o", out)
    assert proc.returncode == 0, proc.stderr
    cards = [ln.split() for ln in out.read_text().splitlines() if ln[:2].lower() in ("rr", "rc", "rb")]
    values = {c[0][:2].lower(): c[3] for c in cards}
    assert values == {"rr": "1.5", "rc": "4k", "rb": "4k"}, cards
    assert len(cards) == 3 * 2 + 2 * 2 + 2


def test_cli_train_takes_separate_wires_into_its_config(tmp_path):
    import json

    proc = _cli("train", "--dataset", "iris", "--layers", "4,4,3", "--epochs", 1, "--r-wire-row", 1, "--r-wire-col", 0,
                "--out", tmp_path / "run")
    assert proc.returncode == 0, proc.stderr
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert (cfg["r_wire_row"], cfg["r_wire_col"]) == (1.0, 0.0)
