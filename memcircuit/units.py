"""SI numbers: parsing engineering notation from users, formatting it for netlists.

Internally everything is a plain SI float (volts, amperes, ohms, seconds, siemens, farads).
Engineering prefixes appear only when writing netlists (:func:`format_spice`) or when parsing user
input (:func:`parse_si`), e.g. ``"10k" -> 1e4``, ``"2.5meg" -> 2.5e6``, ``"100n" -> 1e-7``.
"""

from __future__ import annotations

import math
import re

from memcircuit.errors import ConfigError

# SPICE prefixes (case-insensitive; "meg" before "m", "mil" is deliberately not supported).
_PREFIX = {
    "t": 1e12,
    "g": 1e9,
    "meg": 1e6,
    "k": 1e3,
    "m": 1e-3,
    "u": 1e-6,
    "µ": 1e-6,
    "n": 1e-9,
    "p": 1e-12,
    "f": 1e-15,
}
_NUMBER = re.compile(
    r"^\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*(meg|[tgkmuµnpf])?([a-zA-Z]*)\s*$",
    re.IGNORECASE,
)
_UNITS = {"", "v", "a", "s", "hz", "ohm", "ohms", "f", "h", "w", "j", "siemens"}

_FORMAT = ((1e12, "t"), (1e9, "g"), (1e6, "meg"), (1e3, "k"), (1.0, ""), (1e-3, "m"),
           (1e-6, "u"), (1e-9, "n"), (1e-12, "p"), (1e-15, "f"))


def parse_si(text: str | float | int, *, name: str = "value") -> float:
    """Parse a number with an optional SPICE engineering prefix and unit (``"1.5k"``, ``"10mV"``).

    Raises :class:`ConfigError` naming ``name`` for anything that is not a finite number.
    """
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value = float(text)
    else:
        match = _NUMBER.match(str(text))
        if not match:
            raise ConfigError(f"{name}: {text!r} is not a number (examples: 1e-3, 1m, 10k, 2.5meg)")
        mantissa, prefix, unit = match.groups()
        if unit.lower() not in _UNITS:
            raise ConfigError(f"{name}: {text!r} is not a number (unknown suffix {unit!r}; "
                              "examples: 1e-3, 1m, 10k, 2.5meg)")
        value = float(mantissa) * (_PREFIX[prefix.lower()] if prefix else 1.0)
    if not math.isfinite(value):
        raise ConfigError(f"{name}: {text!r} is not finite")
    return value


def format_spice(value: float) -> str:
    """Format an SI float for a netlist with an engineering prefix, exact to 12 significant digits.

    ``1e3 -> "1k"``, ``2.2e-9 -> "2.2n"``, ``0 -> "0"``, ``1e-20 -> "1e-20"``.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"format_spice needs a number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"cannot write a non-finite number ({value}) into a netlist")
    if value == 0.0:
        return "0"
    magnitude = abs(value)
    for scale, prefix in _FORMAT:
        if magnitude >= scale * (1 - 1e-12):
            if magnitude >= 1e15 or (scale == 1e-15 and magnitude < 1e-15):
                break
            mantissa = f"{value / scale:.12g}"
            if "e" in mantissa:  # rounding pushed it over; fall back to plain exponent form
                break
            return mantissa + prefix
    return f"{value:.12g}"


_SI = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, ""), (1e-3, "m"), (1e-6, "µ"), (1e-9, "n"),
       (1e-12, "p"), (1e-15, "f"))


def si_prefix(value: float) -> tuple[float, str]:
    """Scale and SI prefix (f .. T) so that ``|value| / scale`` reads between 1 and 1000."""
    magnitude = abs(float(value))
    if magnitude == 0.0 or not math.isfinite(magnitude):
        return 1.0, ""
    return next((item for item in _SI if magnitude >= item[0] * (1 - 1e-9)), _SI[-1])


def format_si(value: float, unit: str = "", digits: int = 3) -> str:
    """A number for people, with an SI prefix and unit: ``1e-7, "s" -> "100 ns"``, ``0.9, "V" -> "900 mV"``."""
    scale, prefix = si_prefix(value)
    return f"{float(value) / scale:.{digits}g} {prefix}{unit}".rstrip()
