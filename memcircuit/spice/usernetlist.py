"""User-supplied netlists: read, checked for unsafe commands, made ready for an engine.

A netlist from a user may not run commands on this machine: ``.control`` blocks, ``shell``,
``system`` and ``.exec`` lines are refused unless the caller passes ``allow_control=True``
(the CLI's ``--allow-control``). Our engines append their own control block after the user's
cards to run the analysis and collect the vectors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from memcircuit.errors import ConfigError, NetlistError

_UNSAFE = re.compile(r"^\s*(\.control\b|\.endc\b|\.exec\b|shell\b|system\b|\.?shell\b|!)", re.IGNORECASE)
_ANALYSIS = re.compile(r"^\s*\.(op|tran|dc|ac|noise|tf|sens|pz|disto|pss|sp)\b", re.IGNORECASE)
_END = re.compile(r"^\s*\.end\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class UserNetlist:
    """A checked user netlist. ``body`` is the text without its final ``.end`` line."""

    body: str
    source: str = "<text>"
    has_analysis: bool = False
    has_control: bool = False

    @classmethod
    def from_text(cls, text: str, *, source: str = "<text>", allow_control: bool = False) -> UserNetlist:
        if "\x00" in text:
            raise NetlistError(f"{source}: not a text netlist (NUL byte)")
        lines = text.splitlines()
        if not lines or not any(ln.strip() for ln in lines[1:]):
            raise NetlistError(f"{source}: empty netlist (the first line is the title; no elements follow)")
        has_control = False
        for number, line in enumerate(lines[1:], start=2):
            if line.lstrip().startswith("*"):
                continue
            if _UNSAFE.match(line):
                has_control = True
                if not allow_control:
                    raise NetlistError(
                        f"{source}:{number}: refusing '{line.strip()[:40]}': netlists may not contain "
                        ".control blocks or shell/system commands (pass --allow-control to trust this file)"
                    )
        body_lines = list(lines)
        while body_lines and not body_lines[-1].strip():
            body_lines.pop()
        if body_lines and _END.match(body_lines[-1]):
            body_lines.pop()
        if any(_END.match(ln) for ln in body_lines[1:]):
            raise NetlistError(f"{source}: text after the .end line")
        has_analysis = any(_ANALYSIS.match(ln) for ln in body_lines[1:])
        return cls("\n".join(body_lines), source, has_analysis, has_control)

    @classmethod
    def from_file(cls, path: str | Path, *, allow_control: bool = False) -> UserNetlist:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"netlist file not found: {p}")
        try:
            text = p.read_text(encoding="utf-8", errors="strict")
        except UnicodeDecodeError as exc:
            raise NetlistError(f"{p}: not a UTF-8 text netlist ({exc.reason})") from None
        return cls.from_text(text, source=str(p), allow_control=allow_control)
