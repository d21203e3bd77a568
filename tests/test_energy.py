"""Energy by component from the solved currents: a single read against sum(V_i I_i) t computed
independently, the components summing to what the sources deliver, and spice against numeric."""

from __future__ import annotations

import numpy as np
import pytest
from test_tiles import dense_reference

from memcircuit.circuits.spec import AdcParams, DriverParams, TiaParams
from memcircuit.tiles import make_tile
from memcircuit.tiles.energy import T_READ, adc_conversion_energy, flat_energy

RNG = np.random.default_rng(11)
G = RNG.uniform(1e-6, 1e-4, (5, 4))
V = RNG.uniform(-0.3, 0.3, (3, 5))


def _read_energy(tile, v, backward=False):
    tile.take_energy()
    (tile.read_t if backward else tile.read)(v)
    return tile.take_energy()["read"]


@pytest.mark.parametrize("fidelity", ["numeric", pytest.param("spice", marks=pytest.mark.ngspice)])
def test_single_read_energy_is_sum_of_source_power_times_read_time(fidelity):
    r_wire, r_out = 3.0, 50.0
    i_src = dense_reference(G, V, r_wire, r_out, drivers=True)      # independent dense nodal solve
    expected = float(np.sum(V * i_src)) * T_READ
    with make_tile(fidelity, 5, 4, g=G, r_wire=r_wire, driver=DriverParams(r_out=r_out)) as tile:
        parts = _read_energy(tile, V)
    assert sum(parts.values()) == pytest.approx(expected, rel=1e-6)
    assert parts["drivers"] == pytest.approx(float(np.sum(i_src**2)) * r_out * T_READ, rel=1e-6)
    assert parts["sense"] == 0 and parts["adc"] == 0


def test_ideal_read_energy_is_v_squared_g():
    with make_tile("ideal", 5, 4, g=G) as tile:
        forward = _read_energy(tile, V)
        backward = _read_energy(tile, V[:, :4], backward=True)
    assert forward["array"] == pytest.approx(float(np.sum(V**2 @ G.sum(axis=1))) * T_READ, rel=1e-12)
    assert backward["array"] == pytest.approx(float(np.sum(V[:, :4]**2 @ G.sum(axis=0))) * T_READ, rel=1e-12)


@pytest.mark.ngspice
def test_tia_and_adc_read_energy_spice_equals_numeric():
    kw = dict(g=G, r_wire=2.0, sense="tia", tia=TiaParams(r_f=5e3), adc=AdcParams(bits=6),
              driver=DriverParams(r_out=20.0))
    parts = {}
    for fidelity in ("numeric", "spice"):
        with make_tile(fidelity, 5, 4, **kw) as tile:
            parts[fidelity] = _read_energy(tile, V)
    for name in ("drivers", "array", "sense", "adc"):
        assert parts["spice"][name] == pytest.approx(parts["numeric"][name], rel=1e-5), name
    assert parts["numeric"]["adc"] == pytest.approx(3 * 4 * adc_conversion_energy(6))
    assert parts["numeric"]["sense"] > 0


@pytest.mark.ngspice
def test_programming_energy_components_sum_to_what_the_drivers_deliver():
    from memcircuit.tiles import PulseProgram, PulseStep

    step = PulseStep(np.array([1.0, 0.0, 0.0]), np.array([0.0, -0.5, 0.0]), 1e-6, 1e-6)
    reports = {}
    for fidelity in ("numeric", "spice"):
        kw = {"substeps": 50} if fidelity == "numeric" else {}   # the state moves during the pulse
        with make_tile(fidelity, 3, 3, device="exp-pulse", r_wire=1.0, driver=DriverParams(r_out=100.0), **kw) as tile:
            report = tile.program(PulseProgram((step,)))
            ledger = tile.energy()["program"]
        assert sum(report.energy_parts.values()) == pytest.approx(report.energy_j, rel=1e-12)
        assert ledger["drivers"] == report.energy_parts["drivers"] > 0
        reports[fidelity] = report
    for name in ("drivers", "array"):
        assert reports["spice"].energy_parts[name] == pytest.approx(reports["numeric"].energy_parts[name], rel=0.05)


def test_flat_energy_total_is_the_sum_of_the_components():
    parts = {"read": {"drivers": 1.0, "array": 2.0, "sense": 0.5, "adc": 0.25}, "program": {"drivers": 3.0}}
    flat = flat_energy(parts)
    assert flat["energy_total_j"] == 6.75 and flat["energy_read_adc_j"] == 0.25


def test_training_metrics_carry_energy_components_that_sum_to_the_total(tmp_path):
    from memcircuit.train.loop import ENERGY_KEYS, TrainConfig, Trainer

    cfg = TrainConfig(dataset="iris", layers=(4, 5, 3), optimizer="lr-cell", epochs=2, batch=16, lr=0.3,
                      max_train=48, max_test=30, r_wire=1.0,
                      periphery={"sense": "tia", "adc_bits": 6, "r_out": 10.0})
    trainer = Trainer(cfg, tmp_path)
    try:
        summary = trainer.run()
    finally:
        trainer.close()
    for row in summary["epochs"]:
        parts = {k: row[k] for k in ENERGY_KEYS if k != "energy_total_j"}
        assert sum(parts.values()) == pytest.approx(row["energy_total_j"], rel=1e-12)
        assert row["energy_program_drivers_j"] + row["energy_program_array_j"] == pytest.approx(row["energy_j"])
        assert all(parts[f"energy_read_{p}_j"] > 0 for p in ("drivers", "array", "sense", "adc"))
        assert parts["energy_program_lr_cells_j"] > 0 and parts["energy_program_drivers_j"] > 0
    assert summary["energy_total"]["energy_total_j"] == pytest.approx(
        sum(r["energy_total_j"] for r in summary["epochs"]))
    header = (tmp_path / "metrics.csv").read_text().splitlines()[0].split(",")
    assert set(ENERGY_KEYS) <= set(header)


def test_infer_reports_read_energy(tmp_path):
    from memcircuit.infer import InferConfig, infer
    from memcircuit.train.model import DenseModel

    rng = np.random.default_rng(3)
    model = DenseModel([rng.normal(size=(4, 3))], [np.zeros(3)], ["softmax"])
    x = rng.normal(size=(7, 4))
    summary, _ = infer(model, x, InferConfig(fidelity="numeric", periphery={"sense": "tia", "adc_bits": 8}))
    energy = summary["energy"]
    assert energy["energy_read_adc_j"] == pytest.approx(7 * 6 * adc_conversion_energy(8))   # 3 outputs x 2 columns
    assert energy["energy_read_array_j"] > 0 and energy["energy_program_array_j"] == 0
