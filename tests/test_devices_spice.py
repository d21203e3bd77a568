"""Device models in ngspice: the three forms agree, pulse trains follow the closed forms, and the
Pershin-Di Ventra model reproduces the memristor example that ships with ngspice.

Every comparison runs real ngspice (behavioural subcircuits; compiled Verilog-A through OSDI
for the ``osdi`` tests). Tolerances: RMS difference at most 1 % of the range of the quantity.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from memcircuit.devices import DEVICES, get_device, sample_devices
from memcircuit.devices.analysis import pulse_train_wave
from memcircuit.devices.simulate import simulate
from memcircuit.netlist import Circuit, Pwl, Sine, Tran, VoltageSource
from memcircuit.spice import UserNetlist, run

DATA = Path(__file__).parent / "data" / "devices"
FAMILIES = list(DEVICES)
PULSE_FAMILIES = ["exp-pulse", "discrete", "lr-cell"]
TOL = 0.01  # RMS of the difference / range


def rms_rel(a_t, a, b_t, b, reference_range):
    """RMS of (a - b) on a's time grid (b interpolated), relative to ``reference_range``."""
    return float(np.sqrt(np.mean((a - np.interp(a_t, b_t, b)) ** 2)) / reference_range)


def sweep(name, form):
    dev = get_device(name)
    amp, freq, x0 = dev.demo
    return simulate(dev, Sine(0.0, amp, freq), 2.0 / freq, x0, form=form, points=1000)


@pytest.fixture(scope="module")
def numeric_sweeps():
    return {name: sweep(name, "numeric") for name in FAMILIES}


@pytest.fixture(scope="module")
def behavioural_sweeps():
    return {name: sweep(name, "behavioural") for name in FAMILIES}


@pytest.mark.ngspice
@pytest.mark.parametrize("name", FAMILIES)
def test_numeric_twin_matches_behavioural_ngspice_on_a_sine(name, numeric_sweeps, behavioural_sweeps):
    num, beh = numeric_sweeps[name], behavioural_sweeps[name]
    i_range, x_range = np.ptp(beh["i"]), max(np.ptp(beh["x"]), 0.05)
    assert rms_rel(beh["time"], beh["i"], num["time"], num["i"], i_range) < TOL
    assert rms_rel(beh["time"], beh["x"], num["time"], num["x"], x_range) < TOL
    # ngspice's own loop is pinched: |i| at the zero crossings of v is tiny
    v, i = beh["v"], beh["i"]
    crossing = np.flatnonzero(np.sign(v[:-1]) * np.sign(v[1:]) < 0)
    slope = np.abs(i[crossing + 1] - i[crossing]) + 1e-30
    frac = np.abs(v[crossing]) / (np.abs(v[crossing]) + np.abs(v[crossing + 1]))
    assert np.all(np.abs(i[crossing] + frac * (i[crossing + 1] - i[crossing])) < 0.05 * slope + 1e-12 * i_range)


@pytest.mark.ngspice
@pytest.mark.osdi
@pytest.mark.parametrize("name", FAMILIES)
def test_verilog_a_matches_behavioural_on_a_sine(name, behavioural_sweeps):
    va, beh = sweep(name, "va"), behavioural_sweeps[name]
    assert rms_rel(beh["time"], beh["i"], va["time"], va["i"], np.ptp(beh["i"])) < TOL
    assert rms_rel(beh["time"], beh["x"], va["time"], va["x"], max(np.ptp(beh["x"]), 0.05)) < TOL


def train(name, form, n, polarity, x0):
    dev = get_device(name)
    p = dev.params
    points, reads, stop = pulse_train_wave(n, polarity * p.v_pulse, p.t_pulse, edge=p.t_pulse / 200)
    out = simulate(dev, Pwl(points), stop, x0, form=form, points=40 * n)
    return dev, np.interp(reads, out["time"], out["x"])


@pytest.mark.ngspice
@pytest.mark.parametrize("name", PULSE_FAMILIES)
def test_pulse_trains_in_ngspice_follow_the_closed_form(name):
    for polarity, x0 in ((+1, 0.05), (-1, 0.95)):
        dev, x = train(name, "behavioural", 25, polarity, x0)
        closed = dev.pulse_train(x0, 25, polarity)[1:]
        # the edges (t_pulse / 200 each) add a little over-drive; the smooth clip acts near a bound
        assert np.max(np.abs(x - closed)) < TOL * (dev.x_max - dev.x_min)
        g = dev.conductance(x)
        assert np.all(np.diff(g) * polarity > -1e-12 * np.ptp(g))  # monotonic between the bounds


@pytest.mark.ngspice
@pytest.mark.osdi
@pytest.mark.parametrize("name", PULSE_FAMILIES)
def test_pulse_trains_in_verilog_a_follow_the_closed_form(name):
    dev, x = train(name, "va", 25, +1, 0.05)
    assert np.max(np.abs(x - dev.pulse_train(0.05, 25, +1)[1:])) < TOL


@pytest.mark.ngspice
@pytest.mark.parametrize("name", ["linear-drift", "vteam", "yakopcic", "pershin"])
def test_numeric_twin_matches_ngspice_on_a_pulse_train(name):
    dev = get_device(name)
    amp, freq, x0 = dev.demo
    width = 0.05 / freq
    points, reads, stop = pulse_train_wave(6, amp, width, edge=width / 50)
    points2, reads2, stop2 = pulse_train_wave(6, -amp, width, edge=width / 50, start=stop + width)
    wave = Pwl(points + points2[1:])
    beh = simulate(dev, wave, stop2, x0, form="behavioural", points=2000)
    num = simulate(dev, wave, stop2, x0, form="numeric", points=2000)
    x_beh = np.interp(np.r_[reads, reads2], beh["time"], beh["x"])
    x_num = np.interp(np.r_[reads, reads2], num["time"], num["x"])
    assert np.ptp(x_beh) > 0.02  # the train does move the state
    assert np.max(np.abs(x_beh - x_num)) < TOL * (dev.x_max - dev.x_min)


@pytest.fixture(scope="module")
def ngspice_example():
    """ngspice's examples/memristor/memristor.sp (first transient of its .control block)."""
    net = UserNetlist.from_file(DATA / "pershin_ngspice_example.sp")
    stime = 10e-9
    result = run(net, Tran(stime / 400, stime, max_step=stime / 400, uic=True))
    # "V1 0 1": the source's + node is ground, so i(v1) is the current from node 1 through Xmem
    return {"time": result.time, "v": result["v(1)"], "i": result["i(v1)"], "r": result["v(xmem.x1)"]}


@pytest.mark.ngspice
@pytest.mark.parametrize("form", ["numeric", "behavioural", pytest.param("va", marks=pytest.mark.osdi)])
def test_pershin_model_reproduces_the_ngspice_example(ngspice_example, form):
    ref = ngspice_example
    dev = get_device("pershin-ngspice")
    p = dev.params
    # the example drives "V1 0 1 sin(0 3 100meg)": V(1) = -3 sin(2 pi 1e8 t), Xmem from 1 to 0
    ours = simulate(dev, Sine(0.0, -3.0, 1e8), 10e-9, (7e3 - p.r_on) / (p.r_off - p.r_on), form=form, points=2000)
    r_ours = p.r_on + (p.r_off - p.r_on) * ours["x"]
    assert np.ptp(ref["r"]) > 5e3  # the example really switches (7k -> about 1.1k -> 7k)
    assert rms_rel(ref["time"], ref["r"], ours["time"], r_ours, p.r_off - p.r_on) < TOL
    assert rms_rel(ref["time"], ref["i"], ours["time"], ours["i"], np.ptp(ref["i"])) < TOL


@pytest.mark.ngspice
@pytest.mark.parametrize("form", ["behavioural", pytest.param("va", marks=pytest.mark.osdi)])
def test_sampled_devices_are_the_same_devices_in_ngspice(form):
    dev = get_device("exp-pulse")
    arr = sample_devices(dev, (2, 3), np.random.default_rng(11), spread={"g_max": 0.3, "a_ltp": 0.4, "n_ltp": 0.3},
                         stuck_on=0.2, stuck_off=0.2)
    assert (arr.stuck != 0).any() and (arr.stuck == 0).any()
    p = dev.params
    points, reads, stop = pulse_train_wave(8, p.v_pulse, p.t_pulse, edge=p.t_pulse / 200)
    elements = [VoltageSource("V1", ("a", "0"), 0.0, Pwl(points))]
    for i, j in np.ndindex(2, 3):
        elements.append(arr.instance(f"Xd{i}_{j}", "a", "0", 0.2, cell=(i, j), form=form))
    if form == "va":
        circuit = Circuit("cells", tuple(elements), models=(arr.osdi_model(),), osdi=(arr.osdi_path(),))
    else:
        circuit = Circuit("cells", tuple(elements), subckts=(arr.behavioural_subckt(),))
    result = run(circuit, Tran(stop / 4000, stop, max_step=stop / 4000, uic=True))
    expected = np.full((2, 3), 0.2)
    for _ in range(8):
        expected = arr.apply_pulse(expected, p.v_pulse, p.t_pulse)
    for i, j in np.ndindex(2, 3):
        start = {1: arr.x_on, -1: arr.x_off}.get(int(arr.stuck[i, j]), 0.2)
        x = dev.read_state(result, f"Xd{i}_{j}", start, form)
        assert x[-1] == pytest.approx(expected[i, j], abs=TOL), (i, j, arr.stuck[i, j])
    moved = expected[arr.stuck == 0]
    assert np.ptp(moved) > 0.05  # the spread made the devices differ
