import math

import pytest

from memcircuit.errors import ConfigError
from memcircuit.units import format_spice, parse_si


@pytest.mark.parametrize(
    "text, value",
    [("1", 1.0), ("10k", 1e4), ("2.5meg", 2.5e6), ("2.5MEG", 2.5e6), ("100n", 1e-7), ("1m", 1e-3),
     ("3u", 3e-6), ("4.7p", 4.7e-12), ("1e-3", 1e-3), ("-2.5", -2.5), ("10mV", 1e-2), ("5ohm", 5.0),
     (".5", 0.5), ("1kohm", 1e3), (" 7 ", 7.0), (3, 3.0), (2.5, 2.5)],
)
def test_parse_si(text, value):
    assert parse_si(text) == pytest.approx(value, rel=1e-15)


@pytest.mark.parametrize("text", ["", "abc", "1x", "1.2.3", "nan", "inf", "1e999", "k"])
def test_parse_si_rejects(text):
    with pytest.raises(ConfigError):
        parse_si(text, name="--amp")


@pytest.mark.parametrize(
    "value, text",
    [(0.0, "0"), (1e3, "1k"), (2.2e-9, "2.2n"), (1.0, "1"), (-4.7e-12, "-4.7p"), (2.5e6, "2.5meg"),
     (1e-3, "1m"), (999.0, "999"), (1e-18, "1e-18"), (1e16, "1e+16")],
)
def test_format_spice(value, text):
    assert format_spice(value) == text


@pytest.mark.parametrize("value", [1.23456789012e-7, 3.3, 12345.678, 6.02e-14, 1 / 3, 1e12, 7e-16])
def test_format_round_trips_to_12_digits(value):
    assert parse_si(format_spice(value)) == pytest.approx(value, rel=1e-11)


def test_format_rejects_non_finite():
    with pytest.raises(ValueError):
        format_spice(math.inf)
