"""Turn arbitrary text (user labels, file stems, layer names) into safe netlist identifiers."""

from __future__ import annotations

import hashlib
import re

_BAD = re.compile(r"[^a-z0-9_]")


def sanitize(text: str, *, prefix: str = "") -> str:
    """Map any text to a lower-case identifier ``[a-z_][a-z0-9_]*``, deterministically.

    Text that is already a clean identifier is returned unchanged (lower-cased, as ngspice does);
    anything else has its bad characters replaced and a short hash of the original appended so
    that two different inputs never collide (``"a b" -> "a_b_3f2a1c"``, ``"a_b" -> "a_b"``).
    ``prefix`` is put in front (e.g. the SPICE element letter).
    """
    raw = str(text)
    clean = _BAD.sub("_", raw.lower())
    if clean != raw.lower() or not clean:
        clean = f"{clean}_{hashlib.sha1(raw.encode('utf-8')).hexdigest()[:6]}".strip("_")
    name = prefix.lower() + clean
    if not name or not (name[0].isalpha() or name[0] == "_"):
        name = "n" + name
    return name
