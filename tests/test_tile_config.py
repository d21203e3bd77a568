"""One configuration of a tile (memcircuit.tiles.config): the Fidelity enumeration, TileConfig's
JSON round trip and validation, make_tile_from against the keyword form, and the training
configuration that derives its tiles' TileConfig (old run directories still resume)."""

from __future__ import annotations

import json
import shutil
from dataclasses import fields
from pathlib import Path

import click
import numpy as np
import pytest

from memcircuit.circuits.spec import (
    AdcParams,
    CrossbarSpec,
    DriverParams,
    OpAmpParams,
    Periphery,
    TiaParams,
    TransistorParams,
)
from memcircuit.cli.common import fidelity_choice
from memcircuit.devices import get_device
from memcircuit.errors import ConfigError
from memcircuit.fidelity import FIDELITIES, NGSPICE_FIDELITIES, Fidelity
from memcircuit.tiles import TILE_CLASSES, EngineOptions, TileConfig, make_tile, make_tile_from, tile_option_names
from memcircuit.tiles.config import typed_options
from memcircuit.train.loop import TrainConfig, Trainer

DATA = Path(__file__).parent / "data" / "train" / "run_v1"

# every field away from its default (the round trip must carry each of them)
EVERYTHING = TileConfig(
    rows=3, cols=5, fidelity=Fidelity.SPICE, device="exp-pulse", device_options={"a_ltp": 5.0}, v_read=0.2,
    cell="1T1R", r_wire=1.5, r_wire_row=2.0, r_wire_col=3.0, c_wire=1e-15,
    transistor=TransistorParams(model="ptm45", vto=0.3, kp=150e-6, lam=0.01, w=2e-6, l=90e-9, v_gate=1.2),
    sense="tia", driver=DriverParams(r_out=50.0, dac_bits=6, v_full=0.5),
    tia=TiaParams(r_f=5e3, opamp=OpAmpParams(gain=1e4, gbw=5e6, v_low=-0.8, v_high=0.9, smooth=2e-3),
                  transistor=True),
    adc=AdcParams(6, -0.5, 0.5),
    engine=EngineOptions(workers=2, timeout=30.0, edge=2e-9, gap=5e-9, form="behavioural", substeps=3,
                         bias_refresh="program", max_tile=(2, 4), parallel_tiles=2))


# -- the fidelity list ---------------------------------------------------------------------------

def test_every_fidelity_list_derives_from_the_enumeration():
    assert FIDELITIES == ("spice", "hybrid", "numeric", "ideal") == tuple(f.value for f in Fidelity)
    assert NGSPICE_FIDELITIES == ("spice", "hybrid")
    assert set(TILE_CLASSES) == set(Fidelity)
    assert all(TILE_CLASSES[f].fidelity == f for f in Fidelity)
    assert isinstance(fidelity_choice, click.Choice) and tuple(fidelity_choice.choices) == FIDELITIES
    assert Fidelity.parse("hybrid") is Fidelity.HYBRID and Fidelity.HYBRID == "hybrid"
    with pytest.raises(ConfigError, match="fidelity must be one of spice, hybrid, numeric, ideal, got 'fast'"):
        Fidelity.parse("fast")


# -- JSON round trip -----------------------------------------------------------------------------

def _leaves(obj, prefix=""):
    """(dotted name, value) of every leaf field of a dataclass tree."""
    for f in fields(obj):
        value = getattr(obj, f.name)
        if hasattr(value, "__dataclass_fields__"):
            yield from _leaves(value, f"{prefix}{f.name}.")
        else:
            yield f"{prefix}{f.name}", value


def test_the_fixture_sets_every_field_away_from_its_default():
    default = {**dict(_leaves(TileConfig(1, 1))), **{f"adc.{k}": v for k, v in _leaves(AdcParams())}}
    assert TileConfig(1, 1).adc is None and EVERYTHING.adc is not None
    same = [name for name, value in _leaves(EVERYTHING) if value == default[name]]
    assert same == []


def test_json_round_trip_of_every_field():
    data = EVERYTHING.to_json()
    assert data["fidelity"] == "spice" and data["engine"]["max_tile"] == [2, 4]
    assert TileConfig.from_json(data) == EVERYTHING
    assert TileConfig.from_json(json.loads(json.dumps(data))) == EVERYTHING      # through JSON text
    assert TileConfig.from_json(TileConfig(2, 2).to_json()) == TileConfig(2, 2)


def test_spec_is_the_crossbar_of_the_config():
    spec = EVERYTHING.spec()
    assert spec == CrossbarSpec(3, 5, r_wire=1.5, c_wire=1e-15, cell="1T1R", sense="tia", driver=EVERYTHING.driver,
                                tia=EVERYTHING.tia, adc=EVERYTHING.adc, transistor=EVERYTHING.transistor,
                                r_wire_row=2.0, r_wire_col=3.0)
    assert EVERYTHING.spec((2, 4)).shape == (2, 4)


def test_flat_options_build_the_same_tree():
    flat = dict(rows=3, cols=5, fidelity="spice", device="exp-pulse", device_options={"a_ltp": 5.0}, v_read=0.2,
                cell="1T1R", r_wire=1.5, r_wire_row=2.0, r_wire_col=3.0, c_wire=1e-15, transistor=EVERYTHING.transistor,
                sense="tia", driver=EVERYTHING.driver, tia=EVERYTHING.tia, adc=EVERYTHING.adc, workers=2,
                timeout=30.0, edge=2e-9, gap=5e-9, form="behavioural", substeps=3, bias_refresh="program",
                max_tile=[2, 4], parallel_tiles=2)
    assert set(flat) == set(tile_option_names())
    assert TileConfig.from_options(**flat) == EVERYTHING
    assert TileConfig(3, 5).with_options(r_wire_col=4.0, workers=None, substeps=2).engine.substeps == 2
    assert typed_options({"rows": "8", "r_wire": "2.5k", "max_tile": [4, 4], "cell": "1R"}) == \
        {"rows": 8, "r_wire": 2500.0, "max_tile": (4, 4), "cell": "1R"}


# -- validation ----------------------------------------------------------------------------------

@pytest.mark.parametrize("changes, message", [
    ({"fidelity": "fast"}, "fidelity must be one of"),
    ({"rows": 0}, "rows must be an integer >= 1"),
    ({"r_wire_row": -1.0}, "r_wire_row"),
    ({"cell": "2R"}, "cell must be one of"),
    ({"v_read": 0.0}, "v_read must be a read voltage > 0 V"),
    ({"sense": "ideal"}, "an ADC digitises the TIA output"),         # EVERYTHING has an ADC
    ({"device": None}, "device_options need a device name"),
    ({"device": 3}, "device must be a model name"),
    ({"workers": 0}, "workers must be an integer >= 1"),
    ({"timeout": -1.0}, "timeout must be a finite number of seconds > 0"),
    ({"form": "spectre"}, "form must be one of auto, osdi, behavioural"),
    ({"bias_refresh": "never"}, "bias_refresh must be one of interval, program"),
    ({"max_tile": (0, 2)}, "max_tile rows and cols must be an integer >= 1"),
    ({"substeps": 1.5}, "substeps must be an integer >= 1"),
    ({"fidelity": "numeric"}, r"workers, timeout, parallel_tiles apply to the spice and hybrid"),
    ({"colour": "red"}, "unknown tile option"),
])
def test_a_bad_field_is_one_error_that_names_it(changes, message):
    with pytest.raises(ConfigError, match=message):
        EVERYTHING.with_options(**changes)


def test_json_errors_name_the_key():
    data = EVERYTHING.to_json()
    with pytest.raises(ConfigError, match=r"tile: unknown key\(s\) colour"):
        TileConfig.from_json({**data, "colour": "red"})
    with pytest.raises(ConfigError, match=r"tile.tia.opamp: unknown key\(s\) slew"):
        TileConfig.from_json({**data, "tia": {**data["tia"], "opamp": {**data["tia"]["opamp"], "slew": 1}}})
    with pytest.raises(ConfigError, match=r"tile: missing key\(s\) cols"):
        TileConfig.from_json({"rows": 2})
    with pytest.raises(ConfigError, match="model object"):
        TileConfig(2, 2, device=get_device("exp-pulse")).to_json()


# -- make_tile_from equals the keyword form ------------------------------------------------------

@pytest.mark.parametrize("fidelity", ["numeric", "spice"])
def test_make_tile_from_reads_as_the_keyword_form(fidelity):
    rng = np.random.default_rng(4)
    device = get_device("exp-pulse")
    states = rng.uniform(device.x_min, device.x_max, (3, 4))
    v = rng.uniform(-0.1, 0.1, (5, 3))
    e = rng.uniform(-0.1, 0.1, (5, 4))
    tia = TiaParams(r_f=20e3)
    config = TileConfig(3, 4, fidelity, device="exp-pulse", r_wire=1.0, r_wire_row=3.0, sense="tia", tia=tia,
                        engine=EngineOptions(timeout=60.0) if fidelity == "spice" else EngineOptions())
    with make_tile_from(config, states=states) as tile:
        got, got_t = tile.read(v), tile.read_t(e)
        assert tile.spec == config.spec() and tile.spec.wire_row == 3.0 and tile.spec.wire_col == 1.0
    keywords = {"timeout": 60.0} if fidelity == "spice" else {}
    with make_tile(fidelity, 3, 4, device="exp-pulse", r_wire=1.0, r_wire_row=3.0, sense="tia", tia=tia,
                   states=states, **keywords) as tile:
        want, want_t = tile.read(v), tile.read_t(e)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got_t, want_t)
    # the TIA reads what the wires let through: a few per cent below the ideal cells' G^T V
    with make_tile_from(TileConfig(3, 4, "ideal", device="exp-pulse"), states=states) as ideal:
        ref = ideal.read(v)
    np.testing.assert_allclose(got, ref, rtol=0.05, atol=1e-3 * np.max(np.abs(ref)))


def test_a_config_larger_than_max_tile_is_a_tiled_layer():
    g = np.random.default_rng(1).uniform(1e-6, 1e-4, (5, 6))
    v = np.random.default_rng(2).uniform(-0.1, 0.1, (3, 5))
    config = TileConfig(5, 6, "numeric", r_wire=2.0, engine=EngineOptions(max_tile=(2, 4)))
    with make_tile_from(config, g=g) as tiled, make_tile("numeric", 5, 6, g=g, r_wire=2.0, max_tile=(2, 4)) as kw:
        assert [[(t.rows, t.cols) for t in row] for row in tiled.tiles] == [[(2, 4), (2, 2)]] * 2 + [[(1, 4), (1, 2)]]
        np.testing.assert_array_equal(tiled.read(v), kw.read(v))


# -- sweep jobs ----------------------------------------------------------------------------------

def test_tile_job_keys_are_the_config_fields():
    from memcircuit.tiles.jobs import _KEYS, check_job, tile_job

    assert {"c_wire", "substeps", "bias_refresh", "form", "max_tile", "r_wire_row"} <= _KEYS
    check_job({"rows": "4", "cols": 4, "c_wire": "1f", "bias_refresh": "program", "substeps": 2})
    with pytest.raises(ConfigError, match=r"unknown tile job parameter\(s\): colour; valid: device"):
        check_job({"colour": "red"})
    with pytest.raises(ConfigError, match="substeps must be an integer"):
        check_job({"substeps": "1.5"})
    with pytest.raises(ConfigError, match="spice and hybrid"):
        check_job({"fidelity": "numeric", "timeout": 10})
    wires = tile_job({"rows": 4, "cols": 4, "r_wire_row": "2", "r_wire_col": 0, "seed": 1}, Path("."))
    assert 0 < wires["max_rel_error"] < 0.05


def test_train_job_tile_keys_go_through_the_tile_config():
    from memcircuit.train.jobs import train_config

    cfg = train_config({"fidelity": "numeric", "tile.c_wire": "2f", "tile.substeps": "3"})
    assert (cfg.tile_config().c_wire, cfg.tile_config().engine.substeps) == (2e-15, 3)
    with pytest.raises(ConfigError, match="unknown tile option"):
        train_config({"tile.colour": "red"})


# -- training and inference configurations -------------------------------------------------------

def test_train_config_derives_its_tile_config():
    cfg = TrainConfig(fidelity="spice", r_wire=1.0, r_wire_col=0.5, periphery=Periphery(sense="tia", r_f=20e3),
                      workers=2, tile_rows=16, tile_cols=8, tile_options={"cell": "1T1R", "timeout": 60.0})
    tile = cfg.tile_config()
    assert (tile.rows, tile.cols, tile.fidelity, tile.device, tile.cell) == (16, 8, Fidelity.SPICE, "exp-pulse", "1T1R")
    assert (tile.spec().wire_row, tile.spec().wire_col, tile.sense, tile.tia.r_f) == (1.0, 0.5, "tia", 20e3)
    assert (tile.engine.workers, tile.engine.timeout, tile.engine.bias_refresh) == (2, 60.0, None)
    assert cfg.tile_config(3, 4).spec().shape == (3, 4)
    assert TrainConfig().tile_config().engine.bias_refresh == "program"     # numeric training default
    assert TrainConfig.from_json(json.loads(json.dumps(cfg.to_json()))) == cfg


@pytest.mark.parametrize("options, message", [
    ({"tile_options": {"sense": "tia"}}, "set them with their own options"),
    ({"tile_options": {"r_wire": 1.0}}, "set them with their own options"),
    ({"tile_options": {"colour": "red"}}, "unknown tile option"),
    ({"tile_options": {"bias_refresh": "never"}}, "bias_refresh must be one of"),
    ({"parallel_tiles": 2}, "applies to the spice and hybrid fidelities"),
    ({"fidelity": "fast"}, "fidelity must be one of"),
])
def test_train_config_checks_its_tiles_when_made(options, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**options)


def test_an_old_config_moves_tile_options_that_are_now_fields():
    """``config_hybrid_v1.json``: written by the code before TileConfig, with ``workers`` and
    ``r_wire_row`` among the ``tile_options`` (where that code took them)."""
    saved = json.loads((DATA.parent / "config_hybrid_v1.json").read_text())
    assert {"workers", "r_wire_row"} <= set(saved["tile_options"])
    cfg = TrainConfig.from_json(saved)
    # form set the spice transient, which hybrid never runs: an earlier run's value is dropped
    assert (cfg.workers, cfg.r_wire_row, cfg.tile_options) == (2, 1.5, {"timeout": 60.0})
    assert cfg.tile_config() == TileConfig(64, 64, "hybrid", device="exp-pulse", r_wire_row=1.5,
                                           engine=EngineOptions(workers=2, timeout=60.0, bias_refresh="program"))
    assert TrainConfig.from_json(cfg.to_json()) == cfg                     # and it is written in the new layout
    with pytest.raises(ConfigError, match=r"r_wire_row is set twice, 2.0 and tile_options 1.5"):
        TrainConfig.from_json({**saved, "r_wire_row": 2.0})


def test_a_run_written_before_the_tile_config_resumes_with_the_same_numbers(tmp_path):
    """``tests/data/train/run_v1``: config.json (``r_wire_col`` among its ``tile_options``) and
    the epoch-1 checkpoint of a run made by the code before TileConfig; resumed to 2 epochs it
    gives the numbers that code gave for an uninterrupted 2-epoch run."""
    saved = json.loads((DATA / "config.json").read_text())
    assert saved["tile_options"] == {"substeps": 2, "cell": "1R", "r_wire_col": 0.5}
    cfg = TrainConfig.from_json({**saved, "epochs": 2})
    assert cfg.tile_config() == TileConfig(64, 64, "numeric", device="exp-pulse", r_wire=1.0, r_wire_row=2.0,
                                           r_wire_col=0.5, sense="tia", tia=TiaParams(r_f=20e3),
                                           engine=EngineOptions(substeps=2, bias_refresh="program"))
    run = tmp_path / "run"
    shutil.copytree(DATA, run)
    (run / "uninterrupted_epoch2.json").unlink()
    trainer = Trainer(cfg, run)
    try:
        summary = trainer.run(resume=True)
    finally:
        trainer.close()
    assert [row["epoch"] for row in summary["epochs"]] == [1, 2] and summary["complete"]
    want = json.loads((DATA / "uninterrupted_epoch2.json").read_text())["epoch2"]
    got = summary["epochs"][1]
    assert got["pulses"] == want["pulses"]
    for key in ("train_acc", "test_acc", "loss", "test_loss", "energy_j"):
        assert got[key] == pytest.approx(want[key], rel=1e-9), key
    written = json.loads((run / "config.json").read_text())             # the new layout
    assert written == {**saved, "epochs": 2, "r_wire_col": 0.5, "tile_options": {"substeps": 2, "cell": "1R"}}
