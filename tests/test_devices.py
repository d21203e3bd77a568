"""Device-model library: registry, numeric twins, closed forms, variation (no simulator needed).

References are independent of the code under test: the published closed forms written out
here (NeuroSim's G(P), the level ladder, the 1/n decay), exact identities (pinched loops,
composition of pulses), statistics of seeded draws, and the generated Verilog-A files.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from memcircuit.devices import DEVICES, PRESETS, DeviceArray, get_device, sample_devices
from memcircuit.devices.analysis import lobe_areas, pulse_train_wave, pwl_samples, pwl_times, sine
from memcircuit.devices.base import MODELS_DIR
from memcircuit.devices.equations import expand, identifiers
from memcircuit.devices.generate import verilog_a_source
from memcircuit.devices.integrate import rosenbrock
from memcircuit.errors import ConfigError
from memcircuit.netlist import ModelInstance, SubcktInstance

FAMILIES = list(DEVICES)
PULSE_FAMILIES = ["exp-pulse", "discrete", "lr-cell"]


# ----------------------------------------------------------------------------- registry
def test_every_family_and_preset_builds_and_describes_itself():
    for name in list(DEVICES) + list(PRESETS):
        dev = get_device(name)
        info = dev.describe()
        assert info["family"] == dev.family and info["parameters"]
        assert all(p["unit"] != "" or p["name"] in ("window", "r_model") for p in info["parameters"])
    for preset in PRESETS.values():
        assert preset.family in DEVICES and len(preset.source) > 20


def test_names_are_forgiving_and_overrides_parse_si():
    dev = get_device("EXP_PULSE", g_max="40u", a_ltp=0.2)
    assert dev.params.g_max == pytest.approx(40e-6) and dev.params.a_ltp == 0.2
    assert get_device("linear_drift", window="biolek").variant == "biolek"


@pytest.mark.parametrize("call, words", [
    (lambda: get_device("nope"), ["unknown device", "exp-pulse", "strukov-2008"]),
    (lambda: get_device("vteam", r_of=1.0), ["no parameter 'r_of'", "r_off", "k_on"]),
    (lambda: get_device("exp-pulse", g_min=-1.0), ["g_min must be > 0"]),
    (lambda: get_device("exp-pulse", g_max="abc"), ["not a number"]),
    (lambda: get_device("linear-drift", window="hann"), ["joglekar, biolek, prodromakis"]),
    (lambda: get_device("discrete", n_levels=3.5), ["whole number"]),
])
def test_bad_names_and_values_raise_config_error_naming_the_valid_ones(call, words):
    with pytest.raises(ConfigError) as info:
        call()
    for word in words:
        assert word in str(info.value)


def test_equations_use_only_known_names_in_every_form():
    for cls in DEVICES.values():
        cls.check_equations()
        for variant in cls.variants or (None,):
            eq = cls.equations_for(variant)
            cur, dx = eq.spice()
            allowed = set(cls.number_fields()) | {"V", "p", "n", "x", "exp", "ln", "max", "min", "abs", "tanh",
                                                   "sinh", "sin", "pow", "sqrt", "cosh", "cos"}
            assert identifiers(cur) | identifiers(dx) <= allowed
            assert "V(x)" in dx or "V(x)" in cur


def test_macro_expansion_is_exact():
    z = np.linspace(-3, 3, 13)
    ns = {"max": np.maximum, "ln": np.log, "exp": np.exp, "abs": np.abs, "tanh": np.tanh, "z": z}
    softplus = eval(expand("sp(z, 0.5)"), ns)  # noqa: S307
    assert np.allclose(softplus, 0.5 * np.log1p(np.exp(z / 0.5)))
    logistic = eval(expand("sig(z, 0.5)"), ns)  # noqa: S307
    assert np.allclose(logistic, 1 / (1 + np.exp(-z / 0.5)))


# ----------------------------------------------------------------------------- integrator
def test_rosenbrock_matches_an_analytic_stiff_solution():
    lam = np.array([1.0, 50.0, 1e4])
    t = np.linspace(0, 5, 51)
    y = rosenbrock(lambda tt, y: -lam * (y - np.sin(tt)), np.zeros(3), t, rtol=1e-5, atol=1e-10)
    exact = lam / (1 + lam**2) * (lam * np.sin(t[:, None]) - np.cos(t[:, None]) + np.exp(-lam * t[:, None]))
    assert np.max(np.abs(y - exact)) < 1e-4


# ----------------------------------------------------------------------------- I-V fingerprints
@pytest.mark.parametrize("name", FAMILIES)
def test_pinched_loop_whose_lobes_shrink_with_frequency(name):
    dev = get_device(name)
    amp, freq, x0 = dev.demo
    areas = []
    for mult in (1, 2, 4):
        t, v = sine(amp, freq * mult, cycles=2, points_per_cycle=200)
        x, i = dev.integrate(t, v, x0)
        zero = np.isclose(v, 0.0, atol=1e-12 * amp)
        assert zero.sum() >= 4
        assert np.all(np.abs(i[zero, 0]) <= 1e-9 * np.max(np.abs(i)))  # pinched at the origin
        second = t >= 1 / (freq * mult)
        areas.append(lobe_areas(v[second], i[second, 0]))
    pos, neg = np.array(areas).T
    assert pos[0] > 0 and neg[0] > 0
    assert np.all(np.diff(pos) < 0) and np.all(np.diff(neg) < 0), areas


def test_lobe_areas_ignore_rounding_noise_at_the_ends():
    """Two periods of an ohmic-plus-hysteresis loop: the area per half-cycle must not change when
    the last sample is +1e-11 V instead of -1e-16 V (what a simulator's end point looks like)."""
    t, v = sine(1.0, 1.0, cycles=2, points_per_cycle=400)
    i = 1e-3 * v + 2e-4 * np.cos(2 * np.pi * t) * np.abs(v)   # lobes of equal, known size
    exact = lobe_areas(v, i)
    v_noisy = v.copy()
    v_noisy[-1] = 1e-11
    assert lobe_areas(v_noisy, i) == pytest.approx(exact, rel=1e-6)
    # reference: |integral of i dv| over one positive half-cycle, by the trapezoid rule
    half = (t >= 0) & (t <= 0.5)
    ref = abs(np.trapezoid(i[half], v[half]))
    assert exact[0] == pytest.approx(ref, rel=1e-2)


@pytest.mark.parametrize("name", FAMILIES)
def test_state_stays_in_bounds_over_long_overdriven_runs(name):
    dev = get_device(name)
    amp, freq, x0 = dev.demo
    t, v = sine(1.5 * amp, freq, cycles=6, points_per_cycle=60)
    x, i = dev.integrate(t, v, x0)
    assert np.all(np.isfinite(x)) and np.all(np.isfinite(i))
    assert x.min() > dev.x_min - 0.01 and x.max() < dev.x_max + 0.01


# ----------------------------------------------------------------------------- pulse closed forms
def test_exp_pulse_follows_neurosim_curves():
    dev = get_device("exp-pulse", a_ltp=0.3, a_ltd=0.7, n_ltp=60.0, n_ltd=80.0)
    p = dev.params
    g = dev.conductance(dev.pulse_train(0.0, 70, +1), v_read=0.1)
    P = np.arange(71.0)
    A = p.a_ltp * p.n_ltp
    B = (p.g_max - p.g_min) / (1 - np.exp(-p.n_ltp / A))
    expected = np.minimum(B * (1 - np.exp(-P / A)) + p.g_min, p.g_max)  # NeuroSim clips at G_max
    assert np.allclose(g, expected, rtol=1e-9, atol=1e-15)
    g_down = dev.conductance(dev.pulse_train(1.0, 90, -1), v_read=0.1)
    A = p.a_ltd * p.n_ltd
    B = (p.g_max - p.g_min) / (1 - np.exp(-p.n_ltd / A))
    expected = np.maximum(p.g_max - B * (1 - np.exp(-np.arange(91.0) / A)), p.g_min)
    assert np.allclose(g_down, expected, rtol=1e-9, atol=1e-15)
    # non-linearity: the first LTP step is larger than the last one, asymmetric with LTD
    steps = np.diff(g)[:60]
    assert steps[0] > 5 * steps[-1] > 0


def test_discrete_device_moves_one_level_per_standard_pulse():
    dev = get_device("discrete", n_levels=8.0, ratio=10.0, g_max=10e-6)
    g = dev.conductance(dev.pulse_train(0.0, 10, +1), v_read=0.2)
    levels = 1e-6 + (10e-6 - 1e-6) * np.minimum(np.arange(11), 7) / 7
    assert np.allclose(g, levels, rtol=1e-9)
    # off-level states read as the nearest level (flat staircase), within 1e-4 of a level step
    x = np.array([3 / 7 + 0.1 / 7, 3 / 7 - 0.1 / 7])
    assert np.allclose(dev.conductance(x, 0.2), 1e-6 + 9e-6 * 3 / 7, atol=1e-4 * 9e-6 / 7)


def test_lr_cell_decays_fast_then_slowly():
    hyper = get_device("lr-cell", gamma=1.0, n0=20.0)
    x = hyper.pulse_train(1.0, 100, -1)
    n = np.arange(101)
    assert np.allclose(x, 1 / (1 + n / 20.0), rtol=1e-9)
    expo = get_device("lr-cell", gamma=0.0, n0=30.0)
    assert np.allclose(expo.pulse_train(1.0, 50, -1), np.exp(-np.arange(51) / 30.0), rtol=1e-9)
    lr = hyper.lr_scale(x)
    assert lr[0] == pytest.approx(1.0) and np.all(np.diff(lr) < 0)
    assert -np.diff(lr)[0] > 10 * -np.diff(lr)[-1]  # fast at first, then slow
    # potentiating pulses restore it along the soft bound
    up = hyper.pulse_train(0.2, 5, +1)
    assert np.allclose(1 - up, 0.8 * np.exp(-np.arange(6) / hyper.params.n_set), rtol=1e-9)


@pytest.mark.parametrize("name", PULSE_FAMILIES)
def test_pulse_response_is_voltage_and_duration_controlled(name):
    dev = get_device(name)
    p = dev.params
    x0 = np.full(3, 0.4)
    one = dev.apply_pulse(x0, p.v_pulse, p.t_pulse)
    two = dev.apply_pulse(one, p.v_pulse, p.t_pulse)
    # one pulse of twice the width = two pulses; twice the over-drive = two pulses (softplus knee)
    assert np.allclose(dev.apply_pulse(x0, p.v_pulse, 2 * p.t_pulse), two, rtol=1e-12)
    assert np.allclose(dev.apply_pulse(x0, p.v_th + 2 * (p.v_pulse - p.v_th), p.t_pulse), two, atol=2e-3)
    # below threshold (half-select at v_pulse / 2 is below v_th for the defaults): no motion
    assert p.v_pulse / 2 < p.v_th
    # softplus leakage at 5 knees below threshold: about exp(-5) * knee / over-drive of a pulse
    assert np.allclose(dev.apply_pulse(x0, p.v_pulse / 2, p.t_pulse), x0, atol=1e-3 * abs(one[0] - x0[0]))
    assert np.all(dev.apply_pulse(x0, -p.v_pulse, p.t_pulse) < x0)


@pytest.mark.parametrize("name", PULSE_FAMILIES)
def test_state_ode_reproduces_the_closed_form_over_a_pulse_train(name):
    dev = get_device(name)
    p = dev.params
    points, reads, stop = pulse_train_wave(12, p.v_pulse, p.t_pulse, edge=p.t_pulse / 1000)
    t = pwl_times(points, 10)
    x, _ = dev.integrate(t, pwl_samples(points, t), 0.3)
    ode = np.interp(reads, t, x[:, 0])
    closed = dev.pulse_train(0.3, 12, +1)[1:]
    assert np.max(np.abs(ode - closed)) < 0.01 * (dev.x_max - dev.x_min)


@pytest.mark.parametrize("name", PULSE_FAMILIES)
def test_cycle_to_cycle_noise_is_sigma_sqrt_n_and_seeded(name):
    field = {"exp-pulse": "sigma_c2c", "lr-cell": "sigma_c2c", "discrete": "sigma_prog"}[name]
    dev = get_device(name, **{field: 0.5 if name == "discrete" else 0.01})
    p = dev.params
    sigma = dev.noise_scale()
    x0 = np.full(40000, 0.5)
    mean = dev.apply_pulse(x0[:1], p.v_pulse, p.t_pulse)[0]
    a = dev.apply_pulse(x0, p.v_pulse, p.t_pulse, rng=np.random.default_rng(1))
    assert np.std(a - mean) == pytest.approx(sigma, rel=0.03)
    assert np.mean(a) == pytest.approx(mean, abs=4 * sigma / 200)
    # four quarter-width pulses: the same total spread (variance adds)
    q = x0
    rng = np.random.default_rng(2)
    for _ in range(4):
        q = dev.apply_pulse(q, p.v_pulse, p.t_pulse / 4, rng=rng)
    assert np.std(q) == pytest.approx(sigma, rel=0.05)
    b = dev.apply_pulse(x0, p.v_pulse, p.t_pulse, rng=np.random.default_rng(1))
    assert np.array_equal(a, b)


@pytest.mark.parametrize("name", ["linear-drift", "vteam", "yakopcic", "pershin"])
def test_apply_pulse_of_physical_models_equals_waveform_integration(name):
    dev = get_device(name)
    amp, freq, x0 = dev.demo
    width = 0.1 / freq
    x_end = dev.apply_pulse(np.array([x0, x0]), np.array([amp, -amp]), width)
    for k, a in enumerate((amp, -amp)):
        t = np.linspace(0, width, 201)
        x, _ = dev.integrate(t, np.full_like(t, a), x0, rtol=1e-5, atol=1e-8)
        assert x_end[k] == pytest.approx(x[-1, 0], abs=1e-4)
    assert x_end[0] != pytest.approx(x0, abs=1e-3) or x_end[1] != pytest.approx(x0, abs=1e-3)


# ----------------------------------------------------------------------------- variation, faults
def test_sample_devices_is_seeded_and_spreads_as_asked():
    dev = get_device("exp-pulse")
    a = sample_devices(dev, (100, 100), np.random.default_rng(7), spread={"g_max": 0.1, "a_ltp": 0.2},
                       stuck_on=0.02, stuck_off=0.03)
    b = sample_devices(dev, (100, 100), np.random.default_rng(7), spread={"g_max": 0.1, "a_ltp": 0.2},
                       stuck_on=0.02, stuck_off=0.03)
    c = sample_devices(dev, (100, 100), np.random.default_rng(8), spread={"g_max": 0.1, "a_ltp": 0.2})
    assert np.array_equal(a.params.g_max, b.params.g_max) and np.array_equal(a.stuck, b.stuck)
    assert not np.array_equal(a.params.g_max, c.params.g_max)
    assert np.std(np.log(a.params.g_max / dev.params.g_max)) == pytest.approx(0.1, rel=0.05)
    assert np.std(np.log(a.params.a_ltp / dev.params.a_ltp)) == pytest.approx(0.2, rel=0.05)
    assert a.params.g_min == dev.params.g_min  # not spread
    assert np.mean(a.stuck > 0) == pytest.approx(0.02, abs=0.006)
    assert np.mean(a.stuck < 0) == pytest.approx(0.03, abs=0.006)
    # a scalar spread varies the family's device-to-device parameters
    d = sample_devices(dev, 50, np.random.default_rng(0), spread=0.05)
    assert set(d.values_) == set(dev.d2d_params)


def test_device_array_numeric_twin_respects_cells_and_faults():
    dev = get_device("exp-pulse", sigma_c2c=0.0)
    arr = sample_devices(dev, (4, 5), np.random.default_rng(3), spread={"g_max": 0.2, "a_ltp": 0.3},
                         stuck_on=0.1, stuck_off=0.1)
    assert isinstance(arr, DeviceArray) and arr.cell_shape == (4, 5)
    x = np.full((4, 5), 0.5)
    x1 = arr.apply_pulse(x, 1.0, 100e-9)
    for i in range(4):
        for j in range(5):
            single = get_device("exp-pulse", **{k: float(v[i, j]) for k, v in arr.values_.items()})
            expected = {1: 1.0, -1: 0.0}.get(int(arr.stuck[i, j]), single.apply_pulse(0.5, 1.0, 100e-9))
            assert x1[i, j] == pytest.approx(float(expected), abs=1e-12)
    g = arr.conductance(x1)
    assert np.allclose(g[arr.stuck > 0], arr.params.g_max[arr.stuck > 0])
    assert np.allclose(g[arr.stuck < 0], dev.params.g_min)
    # a subset of cells: select() lines the parameters up with x[mask]
    mask = np.zeros((4, 5), bool)
    mask[1, 2] = mask[3, 0] = True
    assert np.allclose(arr.select(mask).apply_pulse(x[mask], 1.0, 100e-9), x1[mask])
    # reads over a batch broadcast against the cell shape
    assert arr.current(np.full((2, 4, 5), 0.1), x1).shape == (2, 4, 5)


def test_device_array_instances_carry_per_cell_parameters():
    dev = get_device("vteam")
    arr = sample_devices(dev, (2, 2), np.random.default_rng(4), spread={"r_off": 0.1}, stuck_off=0.5)
    for (i, j) in np.ndindex(2, 2):
        inst = arr.instance(f"Xd{i}_{j}", "a", "b", 0.3, cell=(i, j))
        assert isinstance(inst, SubcktInstance) and inst.subckt == dev.subckt_name()
        params = dict(inst.params)
        assert params["r_off"] == pytest.approx(arr.params.r_off[i, j])
        if arr.stuck[i, j]:
            assert params["kx"] == 0.0 and params["x0"] == 1.0  # vteam: x = 1 is OFF
        else:
            assert "kx" not in params and params["x0"] == 0.3
        va = arr.instance(f"Xd{i}_{j}", "a", "b", 0.3, cell=(i, j), form="va")
        assert isinstance(va, ModelInstance) and va.name == f"NXd{i}_{j}" and dict(va.params) == params
    with pytest.raises(ConfigError, match="cell="):
        arr.instance("Xd", "a", "b", 0.3)
    with pytest.raises(ConfigError, match="cannot spread"):
        sample_devices(dev, 3, np.random.default_rng(0), spread={"r_model": 0.1})
    with pytest.raises(ConfigError, match="stuck-at"):
        sample_devices(dev, 3, np.random.default_rng(0), stuck_on=0.7, stuck_off=0.5)


# ----------------------------------------------------------------------------- netlist forms
@pytest.mark.parametrize("name", FAMILIES)
def test_behavioural_subckt_follows_the_state_node_convention(name):
    dev = get_device(name)
    sub = dev.behavioural_subckt()
    assert sub.ports == ("p", "n")
    params = dict(sub.params)
    assert params["x0"] == 0.5 and params["kx"] == 1.0
    assert all(params[k] == pytest.approx(float(v)) for k, v in dev.values().items())
    assert any("x" in e.nodes for e in sub.elements)
    # another parameter set gets another subcircuit name (both may sit in one netlist)
    other = get_device(name, smooth=3e-3) if "smooth" in params else get_device(name, i_knee=2e-9)
    assert other.subckt_name() != dev.subckt_name()


@pytest.mark.parametrize("name", FAMILIES)
def test_committed_verilog_a_matches_the_equations(name):
    cls = DEVICES[name]
    text = (MODELS_DIR / cls.va_file).read_text()
    assert text == verilog_a_source(cls), "run: python -m memcircuit.devices.generate"
    assert "ddt(V(st))" in text and re.search(r"\bI\b\s*=", text) is None
    assert ("limexp(" in text) == ("exp(" in text.replace("limexp(", ""))  or "limexp(" in text


def test_neurosim_labels_map_to_the_tabulated_a():
    from memcircuit.devices.exp_pulse import neurosim_a

    # spot values of NeuroSim's getParamA table (MLP+NeuroSim V3.0, Formula.cpp): label -> A / P_max
    for label, a in ((0.01, 126.268958), (0.1, 12.625807), (0.5, 2.519877), (9.0, 0.022810)):
        assert neurosim_a(label) == pytest.approx(a, rel=2e-6, abs=6e-7)  # table: 6 decimals
    assert neurosim_a(-4.88) == neurosim_a(4.88)
    with pytest.raises(ConfigError):
        neurosim_a(12.0)
    dev = get_device("ag-si-neurosim")
    g = dev.conductance(dev.pulse_train(0.0, 97, +1), v_read=0.5)
    assert g[0] == pytest.approx(3.0769e-9) and g[-1] == pytest.approx(3.8462e-8)
    # NL 2.4: the curve bulges by 0.07 sqrt(2) 2.4 = 0.238 of the range above the straight line
    p = np.arange(98) / 97
    assert np.max((g - g[0]) / (g[-1] - g[0]) - p) == pytest.approx(0.07 * np.sqrt(2) * 2.4, abs=0.003)


def test_device_array_refuses_states_that_do_not_line_up_with_its_cells():
    arr = sample_devices(get_device("exp-pulse"), (3, 4), np.random.default_rng(0), spread=0.1)
    mask = np.zeros((3, 4), bool)
    mask[0, :] = True  # four cells: x[mask] would broadcast against (3, 4) without the check
    with pytest.raises(ConfigError, match="select"):
        arr.apply_pulse(np.full((3, 4), 0.5)[mask], 1.0, 1e-7)
    assert arr.select(mask).apply_pulse(np.full(4, 0.5), 1.0, 1e-7).shape == (4,)
