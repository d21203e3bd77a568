"""``memcircuit build crossbar``, ``memcircuit tile read|program`` and ``memcircuit plot conductance``."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from test_tiles import dense_reference
from threshold_device import ThresholdDevice

from memcircuit.cli import cli


def invoke(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def arrays(tmp_path):
    rng = np.random.default_rng(99)
    g = rng.uniform(1e-6, 1e-4, (6, 5))
    v = rng.uniform(-0.2, 0.2, (4, 6))
    e = rng.uniform(-0.2, 0.2, (3, 5))
    for name, arr in (("G", g), ("V", v), ("E", e)):
        np.save(tmp_path / f"{name}.npy", arr)
    return tmp_path, g, v, e


@pytest.fixture
def threshold_registry(monkeypatch):
    """Serve the test memristor under the name 'threshold' (the device library is separate)."""
    import memcircuit.tiles as tiles

    real = tiles.resolve_device
    monkeypatch.setattr(tiles, "resolve_device", lambda d: ThresholdDevice() if d == "threshold" else real(d))


@pytest.mark.ngspice
@pytest.mark.parametrize("fidelity", ["numeric", "spice"])
def test_tile_read_json_matches_nodal_reference(arrays, fidelity):
    tmp, g, v, _ = arrays
    result = invoke("tile", "read", "--rows", 6, "--cols", 5, "--conductances", tmp / "G.npy", "--inputs",
                    tmp / "V.npy", "--r-wire", "2.5", "--fidelity", fidelity, "--json", "-")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["fidelity"] == fidelity and data["direction"] == "forward"
    np.testing.assert_allclose(data["currents"], dense_reference(g, v, 2.5), rtol=1e-6)


def test_tile_read_transpose_and_ideal_sense(arrays):
    tmp, g, _, e = arrays
    out = tmp / "out.json"
    result = invoke("tile", "read", "--rows", 6, "--cols", 5, "--conductances", tmp / "G.npy", "--inputs",
                    tmp / "E.npy", "--r-wire", "0", "--fidelity", "ideal", "--transpose", "--json", out)
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    np.testing.assert_allclose(data["currents"], e @ g.T, rtol=1e-12)
    assert data["direction"] == "backward"


def test_tile_read_bad_input_is_one_line_exit_2(arrays):
    tmp, *_ = arrays
    result = CliRunner().invoke(cli, ["tile", "read", "--rows", "6", "--cols", "4", "--conductances",
                                      str(tmp / "G.npy"), "--inputs", str(tmp / "V.npy")])
    assert result.exit_code == 2
    assert "must have shape (6, 4)" in result.output and result.output.count("\n") == 1
    result = CliRunner().invoke(cli, ["tile", "read", "--rows", "6", "--cols", "5", "--conductances",
                                      str(tmp / "G.npy"), "--inputs", str(tmp / "V.npy"), "--adc-bits", "8"])
    assert result.exit_code == 2 and "--sense tia" in result.output


@pytest.mark.ngspice
def test_build_crossbar_netlist_simulates_to_the_reference(arrays):
    tmp, g, _, _ = arrays
    net = tmp / "xbar.cir"
    result = invoke("build", "crossbar", "--rows", 6, "--cols", 5, "--r-wire", "2.5", "--conductances",
                    tmp / "G.npy", "-o", net, "--v-read", "0.15")
    assert result.exit_code == 0, result.output
    sim = invoke("simulate", net, "--json", "-")
    assert sim.exit_code == 0, sim.output
    vectors = json.loads(sim.output)["vectors"]
    currents = [vectors[f"i(vsense{j})"][0] for j in range(5)]
    np.testing.assert_allclose(currents, dense_reference(g, np.full((1, 6), 0.15), 2.5)[0], rtol=1e-9)


@pytest.mark.ngspice
@pytest.mark.parametrize("form", ["behavioural", "osdi"])
def test_built_netlist_with_evolving_devices_starts_at_the_programmed_states(tmp_path, form):
    """Evolving device forms get a transient with uic: at the read voltage (below threshold) the
    column currents stay those of the frozen netlist (an .op would relax the states instead)."""
    currents = {}
    for kind in ("frozen", form):
        net = tmp_path / f"{kind}.cir"
        result = invoke("build", "crossbar", "--rows", 4, "--cols", 3, "--device", "exp-pulse", "--r-wire", "2.5",
                        "--form", kind, "-o", net)
        assert result.exit_code == 0, result.output
        extra = ["--allow-control"] if kind == "osdi" else []
        sim = invoke("simulate", net, *extra, "--json", "-")
        assert sim.exit_code == 0, sim.output
        vectors = json.loads(sim.output)["vectors"]
        currents[kind] = np.array([vectors[f"i(vsense{j})"][-1] for j in range(3)])
    assert ".tran" in (tmp_path / f"{form}.cir").read_text() and "uic" in (tmp_path / f"{form}.cir").read_text()
    np.testing.assert_allclose(currents[form], currents["frozen"], rtol=1e-6)


def test_build_signed_layouts_check_shapes(arrays):
    tmp, g, _, _ = arrays
    result = invoke("build", "crossbar", "--rows", 6, "--cols", 5, "--signed", "differential", "--sense", "tia",
                    "--json", "-", "-o", tmp / "s.cir")
    data = json.loads(result.stdout)
    assert data["physical_cols"] == 10 and (tmp / "s.cir").read_text().count("\nEd") == 5
    bad = CliRunner().invoke(cli, ["build", "crossbar", "--rows", "6", "--cols", "5", "--signed", "reference",
                                   "--conductances", str(tmp / "G.npy")])
    assert bad.exit_code == 2 and "6 x 6" in bad.output


def test_tile_program_reports_changes_and_energy(arrays, threshold_registry):
    tmp, *_ = arrays
    g = np.full((3, 3), 3e-5)
    np.save(tmp / "G3.npy", g)
    pulses = {"steps": [{"rows": [0, 0.7, 0], "cols": [0, 0, -0.7], "row_widths": 2e-6, "col_widths": 2e-6}]}
    (tmp / "p.json").write_text(json.dumps(pulses))
    result = invoke("tile", "program", "--rows", 3, "--cols", 3, "--device", "threshold", "--conductances",
                    tmp / "G3.npy", "--pulses", tmp / "p.json", "--r-wire", "1", "--plot", tmp / "p.png",
                    "--save", tmp / "after.npy", "--json", "-")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    after = np.array(data["g_after"])
    change = np.abs(after - g)
    others = np.delete(change.ravel(), 1 * 3 + 2)
    assert change[1, 2] > 1e-6 and np.all(others < 0.01 * change[1, 2])  # half-selected: <= 0.7 V, sub-threshold
    assert data["energy_j"] > 0 and data["pulses"] == 2
    assert sum(data["energy_parts_j"].values()) == pytest.approx(data["energy_j"], rel=1e-12)
    assert data["programmer"] == "twin" and data["bias_refresh"] == "interval"  # numeric, a tile alone
    np.testing.assert_allclose(np.load(tmp / "after.npy"), after)
    assert (tmp / "p.png").stat().st_size > 10_000


def test_tile_program_needs_a_device(arrays):
    tmp, *_ = arrays
    (tmp / "p.json").write_text('{"steps": []}')
    result = CliRunner().invoke(cli, ["tile", "program", "--rows", "6", "--cols", "5", "--conductances",
                                      str(tmp / "G.npy"), "--pulses", str(tmp / "p.json")])
    assert result.exit_code == 2 and "--device" in result.output
    (tmp / "bad.json").write_text('{"steps": [{"rows": [1]}]}')
    result = CliRunner().invoke(cli, ["tile", "program", "--rows", "6", "--cols", "5", "--device", "x",
                                      "--conductances", str(tmp / "G.npy"), "--pulses", str(tmp / "bad.json")])
    assert result.exit_code == 2


def test_plot_conductance_heat_map(arrays):
    tmp, *_ = arrays
    result = invoke("plot", "conductance", tmp / "G.npy", "-o", tmp / "g.png", "--log")
    assert result.exit_code == 0, result.output
    assert (tmp / "g.png").stat().st_size > 10_000
    np.save(tmp / "flat.npy", np.zeros(4))
    bad = CliRunner().invoke(cli, ["plot", "conductance", str(tmp / "flat.npy"), "-o", str(tmp / "x.png")])
    assert bad.exit_code == 2


def test_pulse_waveform_figure_keeps_the_legend_clear_of_the_traces():
    import matplotlib

    matplotlib.use("Agg")
    from memcircuit.plot.tile import plot_pulse_waveforms

    t = np.linspace(0, 4e-6, 50)
    volts = {"row 0": 0.5 * (t < 2e-6), "col 1": -0.5 * (t >= 2e-6)}
    amps = {"row 0": 4e-5 * (t < 2e-6), "col 1": -4e-5 * (t >= 2e-6)}
    ax = plot_pulse_waveforms(t, volts, amps)
    fig = ax.figure
    fig.canvas.draw()
    assert len(fig.axes) == 2 and fig.axes[1].get_shared_x_axes().joined(*fig.axes)  # currents below
    legend = ax.get_legend()
    assert [txt.get_text() for txt in legend.get_texts()] == ["row 0", "col 1"]  # one entry per driver
    renderer = fig.canvas.get_renderer()
    assert legend.get_window_extent(renderer).x0 >= ax.get_window_extent(renderer).x1  # outside, right
    # a driver keeps its colour in both panels
    assert [ln.get_color() for ln in ax.lines] == [ln.get_color() for ln in fig.axes[1].lines]


@pytest.mark.parametrize(("device", "g", "volts", "seconds", "barely"), [
    ("exp-pulse", 1e-5, 0.25, 1e-6, True),    # 0.5 V across a cell, below its 0.6 V threshold
    ("exp-pulse", 1e-5, 0.5, 1e-6, False),   # 1 V: a few standard pulses
    ("vteam", 5e-3, 0.3, 5e-9, False),       # 0.6 V moves VTEAM fast, though its rate is far from its top
])
def test_tile_program_warns_when_the_program_barely_moves_the_cells(tmp_path, device, g, volts, seconds, barely):
    np.save(tmp_path / "G.npy", np.full((3, 3), g))
    pulses = {"steps": [{"rows": [volts] * 3, "cols": [-volts] * 3, "row_widths": seconds, "col_widths": seconds}]}
    (tmp_path / "p.json").write_text(json.dumps(pulses))
    result = CliRunner().invoke(cli, ["tile", "program", "--rows", "3", "--cols", "3", "--device", device,
                                      "--conductances", str(tmp_path / "G.npy"), "--pulses", str(tmp_path / "p.json")])
    assert result.exit_code == 0, result.output
    assert ("barely moves the cells" in result.stderr) is barely
