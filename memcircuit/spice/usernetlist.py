"""User-supplied netlists: read, checked for unsafe commands and file access, made ready for an engine.

A netlist from a user may not run commands on this machine: ``.control`` blocks, ``shell``,
``system`` and ``.exec`` lines are refused unless the caller passes ``allow_control=True``
(the CLI's ``--allow-control``). Our engines append their own control block after the user's
cards to run the analysis and collect the vectors.

Nor may it read files outside its own folder. ``.include``/``.inc`` and ``.lib FILE SECTION``
cards (any card ngspice takes as one: it matches the prefixes ``.inc`` and ``.lib``) are resolved
here, relative to the file that contains them, symlinks resolved, and the files are inlined, so
that ngspice never opens a file itself. ngspice 46 would look for a relative include in its
working directory first (the batch engine's run directory, the caller's folder for the shared
engine) and only then next to the including file, so a relative include never found the file
beside the netlist. A file outside the netlist's folder, the project's ``models/`` and the OSDI
cache (and the PTM card generated netlists include) is refused unless it lies under a folder the
user names (``allow_include``, the CLI's
``--allow-include DIR``). Errors name the card's file and line and the refused path, never a
file's content; :meth:`UserNetlist.shown` keeps ngspice's messages from quoting included lines.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from memcircuit.errors import ConfigError, NetlistError
from memcircuit.paths import MODELS_DIR, ptm45_card

_UNSAFE = re.compile(r"^\s*(\.control\b|\.endc\b|\.exec\b|shell\b|system\b|\.?shell\b|!)", re.IGNORECASE)
_ANALYSIS = re.compile(r"^\s*\.(op|tran|dc|ac|noise|tf|sens|pz|disto|pss|sp)\b", re.IGNORECASE)
_END = re.compile(r"^\s*\.end\s*$", re.IGNORECASE)
# ngspice treats every card that starts with .inc as an include and with .lib as a library card.
_FILE_CARD = re.compile(r"^\s*\.(inc|lib)\w*(?:\s+(.*))?$", re.IGNORECASE)
_ENDL = re.compile(r"^\s*\.endl\b", re.IGNORECASE)
# model parameters that name a file ngspice opens itself (XSPICE filesource, table models, ...)
_FILE_PARAM = re.compile(r"""(\b\w*file\w*\s*=\s*)("[^"]*"|'[^']*'|[^\s)]+)""", re.IGNORECASE)
# An included card this long, or a word this long found only in included files, hides an ngspice
# message that quotes it (shorter ones would hide messages that merely contain "r1" or ".op").
_PRIVATE_LINE, _PRIVATE_WORD = 6, 8


@dataclass(frozen=True)
class _Line:
    """One card of the expanded netlist and where it was written (file name, 1-based line)."""

    text: str
    where: str
    included: bool = False


def project_include_roots() -> tuple[Path, ...]:
    """What every netlist may include: the project's ``models/``, the OSDI cache and the PTM 45 nm
    card that generated netlists include (when it is installed)."""
    from memcircuit.spice.osdi import cache_dir

    roots = [MODELS_DIR.resolve(), cache_dir().resolve()]
    with contextlib.suppress(ConfigError):  # not installed: nothing to allow
        roots.append(ptm45_card().resolve())
    return tuple(roots)


def _card_args(rest: str, where: str) -> list[str]:
    """A file card's arguments: a quoted path (single or double quotes) or words, then the rest."""
    rest = rest.strip()
    if rest[:1] in ("'", '"'):
        end = rest.find(rest[0], 1)
        if end < 0:
            raise NetlistError(f"{where}: unterminated quote in the file name")
        return [rest[1:end], *rest[end + 1:].split()]
    return rest.split()


class _Expander:
    """Inlines include and library files, checking every line for unsafe commands."""

    def __init__(self, roots: Sequence[Path], allow_control: bool) -> None:
        self.roots = tuple(roots)
        self.allow_control = allow_control
        self.files: list[Path] = []

    def expand(self, lines: Iterable[tuple[int, str]], name: str, folder: Path, stack: tuple[tuple[Path, str], ...],
               *, included: bool) -> list[_Line]:
        """The cards of ``lines`` (file ``name`` in ``folder``) with their file cards inlined;
        ``stack`` holds the (file, section) pairs being inlined, to find cycles."""
        out: list[_Line] = []
        for number, text in lines:
            where = f"{name}:{number}"
            if text.lstrip().startswith("*"):  # a comment (ngspice never shows it)
                out.append(_Line(text, where, included))
                continue
            if _UNSAFE.match(text) and not self.allow_control:
                card = _UNSAFE.match(text).group(1)
                raise NetlistError(
                    f"{where}: refusing '{card.strip()}': netlists may not contain .control blocks or "
                    "shell/system commands (pass --allow-control to trust this file)")
            card = _FILE_CARD.match(text)
            args = _card_args(card.group(2) or "", where) if card else []
            if card and (card.group(1).lower() == "inc" or len(args) >= 2):
                if not args:
                    raise NetlistError(f"{where}: {text.split()[0]} without a file name")
                section = args[1] if card.group(1).lower() == "lib" else None
                out.append(_Line(f"* {text.strip()}", where, included))
                out.extend(self._inline(args[0], section, where, folder, stack))
            elif card and card.group(1).lower() == "lib" and args and any(c in args[0] for c in "/\\."):
                raise NetlistError(f"{where}: .lib names FILE SECTION; '{args[0]}' looks like a file but no "
                                   "section follows")
            else:  # ordinary cards, and .lib SECTION / .endl, which only frame sections
                out.append(_Line(self._file_params(text, where, folder), where, included))
        return out

    def _file_params(self, text: str, where: str, folder: Path) -> str:
        """``text`` with every ``file=PATH`` model parameter (XSPICE ``filesource`` and the like,
        which ngspice opens itself) checked like an include and made absolute, since ngspice runs
        in its own run folder."""
        def check(match: re.Match) -> str:
            target = self._allowed(match.group(2).strip("'\""), where, folder)
            return f'{match.group(1)}"{target}"'

        return _FILE_PARAM.sub(check, text) if "=" in text else text

    def _allowed(self, written: str, where: str, folder: Path) -> Path:
        """The resolved path of ``written`` (relative to ``folder``) if it lies under an allowed root."""
        target = (folder / os.path.expanduser(written)).resolve()  # an absolute path replaces folder
        if not any(target.is_relative_to(root) for root in self.roots):
            raise NetlistError(f"{where}: refusing to read {target}: outside the netlist's folder and the "
                               "model folders (pass --allow-include DIR to trust a folder)")
        return target

    def _inline(self, written: str, section: str | None, where: str, folder: Path,
                stack: tuple[tuple[Path, str], ...]) -> list[_Line]:
        """The cards of the file ``written`` (a section of it for .lib), checked and expanded."""
        target = self._allowed(written, where, folder)
        key = (target, (section or "").lower())
        if key in stack:
            chain = " -> ".join(str(p) for p, _ in (*stack, key))
            raise NetlistError(f"{where}: include cycle: {chain}")
        if not target.is_file():
            raise NetlistError(f"{where}: included file not found: {target}")
        try:
            data = target.read_bytes()
            text = data.decode("utf-8")
        except OSError as exc:
            raise NetlistError(f"{where}: cannot read {target} ({exc.strerror})") from None
        except UnicodeDecodeError:
            raise NetlistError(f"{where}: {target} is not a UTF-8 text file") from None
        if "\x00" in text:
            raise NetlistError(f"{where}: {target} is not a text file (NUL byte)")
        self.files.append(target)
        lines = list(enumerate(text.splitlines(), start=1))
        end = next((i for i, (_, ln) in enumerate(lines) if _END.match(ln)), len(lines))
        lines = lines[:end]  # an included file ends at its .end card
        if section is not None:
            lines = _section(lines, section, target, where)
        return self.expand(lines, str(target), target.parent, (*stack, key), included=True)


def _section(lines: list[tuple[int, str]], section: str, path: Path, where: str) -> list[tuple[int, str]]:
    """The lines between ``.lib SECTION`` and its ``.endl`` in a library file."""
    inside, out = False, []
    for number, text in lines:
        card = _FILE_CARD.match(text)
        words = (card.group(2) or "").split() if card else []
        if not inside and card and card.group(1).lower() == "lib" and len(words) == 1 \
                and words[0].lower() == section.lower():
            inside = True
        elif inside and _ENDL.match(text):
            return out
        elif inside:
            out.append((number, text))
    if inside:
        raise NetlistError(f"{where}: section {section!r} of {path} has no .endl")
    raise NetlistError(f"{where}: no section {section!r} in {path}")


@dataclass(frozen=True)
class UserNetlist:
    """A checked user netlist. ``body`` is the text, includes inlined, without its final ``.end``.

    ``included`` lists the files inlined into it (resolved paths)."""

    body: str
    source: str = "<text>"
    has_analysis: bool = False
    has_control: bool = False
    included: tuple[Path, ...] = ()
    _private: tuple[tuple[str, str], ...] = field(default=(), repr=False, compare=False)

    @classmethod
    def from_text(cls, text: str, *, source: str = "<text>", allow_control: bool = False,
                  folder: str | Path | None = None, allow_include: Iterable[str | Path] = ()) -> UserNetlist:
        """Check ``text``; its includes resolve against ``folder`` (default: the working folder),
        and may reach that folder, the model folders and the ``allow_include`` folders."""
        if "\x00" in text:
            raise NetlistError(f"{source}: not a text netlist (NUL byte)")
        lines = text.splitlines()
        if not lines or not any(ln.strip() for ln in lines[1:]):
            raise NetlistError(f"{source}: empty netlist (the first line is the title; no elements follow)")
        base = Path(folder if folder is not None else Path.cwd()).resolve()
        roots = (base, *project_include_roots(), *(Path(d).expanduser().resolve() for d in allow_include))
        expander = _Expander(roots, allow_control)
        cards = expander.expand(enumerate(lines[1:], start=2), source, base, (), included=False)
        has_control = any(_UNSAFE.match(c.text) and not c.text.lstrip().startswith("*") for c in cards)
        while cards and not cards[-1].text.strip():
            cards.pop()
        if cards and _END.match(cards[-1].text) and not cards[-1].included:
            cards.pop()
        if any(_END.match(c.text) for c in cards):
            raise NetlistError(f"{source}: text after the .end line")
        has_analysis = any(_ANALYSIS.match(c.text) for c in cards)
        body = "\n".join([lines[0], *(c.text for c in cards)])
        return cls(body, source, has_analysis, has_control, tuple(expander.files), _private_fragments(cards))

    @classmethod
    def from_file(cls, path: str | Path, *, allow_control: bool = False,
                  allow_include: Iterable[str | Path] = ()) -> UserNetlist:
        """Read and check the netlist file ``path``; its includes resolve against its folder."""
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"netlist file not found: {p}")
        try:
            text = p.read_text(encoding="utf-8", errors="strict")
        except UnicodeDecodeError as exc:
            raise NetlistError(f"{p}: not a UTF-8 text netlist ({exc.reason})") from None
        return cls.from_text(text, source=str(p), allow_control=allow_control, folder=p.absolute().parent,
                             allow_include=allow_include)

    def shown(self, message: str) -> str:
        """``message`` (a line of ngspice output), or where the included line it quotes was written.

        ngspice quotes the card it rejects (lower case, spaces collapsed); a card of an included
        file, or a long word found only in included files, is not shown, so that no error prints
        the content of a file the netlist pulled in."""
        low = " ".join(message.lower().split())
        for fragment, where in self._private:
            if fragment in low:
                return f"line {where} of an included file (its text is not shown)"
        return message


def _private_fragments(cards: Sequence[_Line]) -> tuple[tuple[str, str], ...]:
    """(text, where) of what an error may not quote: the included cards (normalised) and the
    words that only included cards contain."""
    own = {w for c in cards if not c.included for w in c.text.lower().split()}
    lines, words = {}, {}
    for c in cards:
        if c.included and not c.text.lstrip().startswith("*"):
            norm = " ".join(c.text.lower().split())
            if len(norm) >= _PRIVATE_LINE:
                lines.setdefault(norm, c.where)
            for w in norm.split():
                if len(w) >= _PRIVATE_WORD and w not in own:
                    words.setdefault(w, c.where)
    return (*lines.items(), *words.items())


def shown(netlist: object, message: str) -> str:
    """``message`` as an error may print it for ``netlist`` (see :meth:`UserNetlist.shown`)."""
    return netlist.shown(message) if isinstance(netlist, UserNetlist) else message
