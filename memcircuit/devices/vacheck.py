"""Check a user's Verilog-A memristor model before it is simulated (``memcircuit models check``).

OpenVAF compiles a Verilog-A module into an OSDI model that ngspice evaluates afresh at every
Newton iteration of every time step. Several constructs of the language therefore cannot run
faithfully, and some of them compile without a word:

* OpenVAF keeps **no variable between time steps**: a state integrated by hand
  (``x = x + rate*($abstime - t_prev)``) or any variable read before it is assigned in the
  analog block starts afresh at every evaluation; and it runs ``@(initial_step)`` at every
  evaluation (measured with ngspice 46), so a state set there and then updated from itself
  starts again from its initial value, and a value captured there (``v0 = V(p, n)``) follows
  the present one (constants set there are fine);
* ``$rdist_*``, ``$dist_*``, ``$random``, ``$arandom``, ``transition``, ``slew``, ``laplace_*``
  and ``zi_*`` are not supported; ``absdelay`` silently becomes a pass-through;
* a memristor is a two-terminal element with a state the simulator integrates: the state must be
  an internal node carrying ``ddt`` (``I(st) <+ ddt(V(st)) - dxdt``), which ngspice also lets us
  read back as ``<instance>#st``; no ``ddt`` at all is a resistor, ``ddt`` only on the
  terminals is a capacitance, ``idt`` into a variable hides the state;
* ``if (x > 1) x = 1;`` clips the state with a step that stalls Newton iterations and the time
  step (a warning: the built-in models multiply the rate by the smooth window
  ``tanh((1 - x)/s)``, ``tanh(x/s)``, see :mod:`memcircuit.devices.equations`).

:func:`check_va` scans the source (comments and strings removed, line numbers kept, ``include``
files next to the source inlined; includes outside the source's folder are refused), then
compiles it with OpenVAF (cached by source hash) and turns a compile error into a finding with
OpenVAF's message and line. :func:`require_runnable` is what other commands call before they
simulate a user model: it raises :class:`~memcircuit.errors.ModelCompileError` with the first
error, or returns the compiled module.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import astuple, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from memcircuit.errors import ModelCompileError
from memcircuit.netlist.probes import Current, StateNode, vector

#: include files OpenVAF provides itself (used when no file of that name sits next to the source)
STANDARD_INCLUDES = frozenset({"disciplines.vams", "constants.vams", "discipline.h", "constants.h"})
DISCIPLINES = frozenset({"electrical", "voltage", "current", "magnetic", "thermal", "kinematic",
                         "kinematic_v", "rotational", "rotational_omega", "ddiscrete", "logic"})
_SMOOTH = "multiply the rate by a smooth window instead, as the built-in models do: " \
          "rate*tanh((1 - x)/0.002) at the upper bound, rate*tanh(x/0.002) at the lower"
_NODE_STATE = "keep the state on an internal node: `electrical st; ... I(st) <+ ddt(V(st)) - dxdt + 1e-15*V(st);`"

#: unsupported functions: name pattern -> advice after "... is not supported by OpenVAF"
_UNSUPPORTED: tuple[tuple[re.Pattern, str, str], ...] = (
    (re.compile(r"\$(rdist_\w+|dist_\w+|random|arandom)$"), "random-number",
     "is not supported by OpenVAF (no random numbers inside a model); give cycle-to-cycle noise "
     "outside the model (memcircuit samples it per pulse) or spread devices by instance parameters"),
    (re.compile(r"transition$"), "transition",
     "is not supported by OpenVAF; drive the model with finite edges (PWL sources) or use a smooth "
     "expression such as tanh"),
    (re.compile(r"slew$"), "slew",
     "is not supported by OpenVAF; limit the rate with a smooth expression or an internal RC node"),
    (re.compile(r"(laplace|zi)_(zp|zd|np|nd)$"), "filter",
     "is not supported by OpenVAF; write the filter as internal nodes with ddt"),
    (re.compile(r"absdelay$"), "absdelay",
     "compiles in OpenVAF as a silent pass-through (no delay at all); model the delay with an "
     "internal RC node (ddt) instead"),
)
_COMPARE = frozenset({">", "<", ">=", "<="})


@dataclass(frozen=True)
class Finding:
    """One problem: where (file, 1-based line), how bad (``error``/``warning``), a short ``code``
    and the message."""

    path: str
    line: int
    severity: str
    code: str
    message: str

    def format(self) -> str:
        return f"{self.path}:{self.line}: {self.severity}: {self.message}"


@dataclass
class VaReport:
    """What :func:`check_va` found in one Verilog-A file."""

    path: Path
    modules: list[str] = field(default_factory=list)
    states: dict[str, list[str]] = field(default_factory=dict)   # module -> state nodes (ddt)
    where: dict[str, tuple[str, int]] = field(default_factory=dict)  # module -> (file, line)
    findings: list[Finding] = field(default_factory=list)
    compiled: bool = False
    osdi: Path | None = None
    not_compiled: str = ""   # why the compiler did not run
    ran: bool = False        # ngspice was asked for an operating point (errors say if it failed)
    not_run: str = ""        # why ngspice did not run

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        n_e, n_w = len(self.errors), len(self.warnings)
        head = f"{self.path}: {n_e} error{'s' * (n_e != 1)}, {n_w} warning{'s' * (n_w != 1)}"
        states = "; ".join(f"{m}: state on {', '.join(s)}" for m, s in self.states.items() if s)
        compiled = "compiled with OpenVAF" if self.compiled else f"not compiled ({self.not_compiled})"
        if self.compiled:
            compiled += (f", solved in ngspice at {SMOKE_VOLTAGE} V" if self.ran and self.ok else
                         f", not run in ngspice ({self.not_run})" if self.not_run else "")
        return "; ".join(x for x in (head, states, compiled) if x)

    def to_json(self) -> dict[str, Any]:
        return {"path": str(self.path), "modules": self.modules, "states": self.states, "ok": self.ok,
                "errors": len(self.errors), "warnings": len(self.warnings), "compiled": self.compiled,
                "osdi": str(self.osdi) if self.osdi else None, "not_compiled": self.not_compiled,
                "ran_in_ngspice": self.ran, "not_run": self.not_run,
                "findings": [f.__dict__ for f in self.findings]}


# -- source: comments, strings, includes -----------------------------------------------------------
def _strip(text: str, *, keep_strings: bool) -> str:
    """Comments (``//``, ``/* */``) and attributes (``(* *)``) blanked, and string contents too
    unless ``keep_strings``; newlines (and so line numbers) kept."""
    out, k, n = [], 0, len(text)

    def blank(s: str) -> str:
        return re.sub(r"[^\n]", " ", s)

    while k < n:
        c, two = text[k], text[k:k + 2]
        if two == "//":
            end = text.find("\n", k)
            end = n if end < 0 else end
            out.append(blank(text[k:end]))
            k = end
        elif two in ("/*", "(*"):
            end = text.find("*/" if two == "/*" else "*)", k + 2)
            end = n if end < 0 else end + 2
            out.append(blank(text[k:end]))
            k = end
        elif c == '"':
            end = k + 1
            while end < n and text[end] not in '"\n':
                end += 2 if text[end] == "\\" else 1
            end = min(end + 1, n)
            out.append(text[k:end] if keep_strings else '"' + blank(text[k + 1:end - 1]) + '"')
            k = end
        else:
            out.append(c)
            k += 1
    return "".join(out)


_INCLUDE = re.compile(r'^\s*`include\s+"([^"]*)"')


class _Source:
    """The source with its includes inlined: ``text`` plus the (file, line) of every line."""

    def __init__(self, path: Path, findings: list[Finding]) -> None:
        self.root = path.resolve().parent
        self.lines: list[str] = []
        self.origin: list[tuple[str, int]] = []
        self.files: list[Path] = []   # included files, resolved
        self._read(path, findings, depth=0)
        self.text = "\n".join(self.lines)
        self._starts = [0]
        for line in self.lines[:-1]:
            self._starts.append(self._starts[-1] + len(line) + 1)

    def _read(self, path: Path, findings: list[Finding], depth: int) -> None:
        try:
            raw = path.read_text(errors="replace")
        except OSError as exc:
            raise ModelCompileError(f"{path}: cannot read ({exc.strerror})") from None
        for number, line in enumerate(_strip(raw, keep_strings=True).split("\n"), start=1):
            match = _INCLUDE.match(line)
            if not match:
                self.lines.append(_strip(line, keep_strings=False))
                self.origin.append((str(path), number))
                continue
            self.lines.append("")
            self.origin.append((str(path), number))
            name = match.group(1)
            shown = path.parent / name
            target = shown.resolve()
            where = (str(path), number)
            if not target.is_relative_to(self.root):
                findings.append(Finding(*where, "error", "include-outside",
                                        f"`include \"{name}\" lies outside the model's folder {self.root}; "
                                        "only files next to the model are read"))
            elif target.is_file():
                if depth > 16 or target in self.files:
                    findings.append(Finding(*where, "error", "include-loop",
                                            f"`include \"{name}\" is read a second time (an include loop or a "
                                            "repeated include)"))
                else:
                    self.files.append(target)
                    self._read(shown, findings, depth + 1)
            elif name not in STANDARD_INCLUDES:
                findings.append(Finding(*where, "error", "include-missing",
                                        f"`include \"{name}\": no such file next to the model"))

    def where(self, offset: int) -> tuple[str, int]:
        return self.origin[bisect.bisect_right(self._starts, offset) - 1]


# -- tokens and statements -------------------------------------------------------------------------
_TOKEN = re.compile(r"\s*(?:(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?[a-zA-Z]?)"
                    r"|(?P<id>\$?[A-Za-z_][A-Za-z0-9_$]*)|(?P<str>\"[^\"\n]*\")"
                    r"|(?P<op><\+|==|!=|<=|>=|&&|\|\||<<|>>|\*\*|`\w+|.))", re.S)


@dataclass
class _Tok:
    text: str
    pos: int
    kind: str


def _tokens(text: str, start: int, end: int) -> list[_Tok]:
    out, k = [], start
    while k < end:
        m = _TOKEN.match(text, k, end)
        if not m or m.end() == k:
            break
        kind = m.lastgroup or "op"
        out.append(_Tok(m.group(kind), m.start(kind), kind))
        k = m.end()
    return [t for t in out if t.text.strip()]


@dataclass
class _Stmt:
    kind: str                      # block, if, event, loop, case, assign, contrib, other
    pos: int
    tokens: list[_Tok] = field(default_factory=list)        # cond / expression tokens
    lhs: str = ""
    target: list[_Tok] = field(default_factory=list)         # branch of a contribution
    body: list[_Stmt] = field(default_factory=list)
    orelse: list[_Stmt] = field(default_factory=list)
    event: str = ""
    has_default: bool = False


class _ParseError(Exception):
    def __init__(self, message: str, pos: int) -> None:
        super().__init__(message)
        self.pos = pos


class _Parser:
    def __init__(self, toks: list[_Tok]) -> None:
        self.t = toks
        self.k = 0

    def peek(self, ahead: int = 0) -> str:
        j = self.k + ahead
        return self.t[j].text if j < len(self.t) else ""

    def take(self, text: str | None = None) -> _Tok:
        if self.k >= len(self.t):
            raise _ParseError("unexpected end of the module", self.t[-1].pos if self.t else 0)
        tok = self.t[self.k]
        if text is not None and tok.text != text:
            raise _ParseError(f"expected {text!r}, found {tok.text!r}", tok.pos)
        self.k += 1
        return tok

    def group(self) -> list[_Tok]:
        """The tokens inside the parentheses that start here (the parentheses dropped)."""
        self.take("(")
        depth, out = 1, []
        while True:
            tok = self.take()
            depth += {"(": 1, ")": -1}.get(tok.text, 0)
            if depth == 0:
                return out
            out.append(tok)

    def until(self, stops: tuple[str, ...]) -> list[_Tok]:
        depth, out = 0, []
        while self.k < len(self.t):
            tok = self.t[self.k]
            if depth == 0 and tok.text in stops:
                return out
            depth += {"(": 1, "[": 1, "{": 1, ")": -1, "]": -1, "}": -1}.get(tok.text, 0)
            out.append(tok)
            self.k += 1
        raise _ParseError("missing ';'", self.t[-1].pos if self.t else 0)

    def statement(self) -> _Stmt:
        tok = self.take()
        word = tok.text
        if word == "begin":
            if self.peek() == ":":
                self.take(), self.take()
            body = []
            while self.peek() != "end":
                body.append(self.statement())
            self.take("end")
            return _Stmt("block", tok.pos, body=body)
        if word == "if":
            cond = self.group()
            body = [self.statement()]
            orelse = []
            if self.peek() == "else":
                self.take()
                orelse = [self.statement()]
            return _Stmt("if", tok.pos, cond, body=body, orelse=orelse)
        if word == "@":
            event = self.group()
            return _Stmt("event", tok.pos, event, body=[self.statement()], event=event[0].text if event else "")
        if word in ("for", "while", "repeat"):
            head = self.group()
            return _Stmt("loop", tok.pos, head, body=[self.statement()], event=word)
        if word == "case":
            head = self.group()
            stmt = _Stmt("case", tok.pos, head)
            while self.peek() != "endcase":
                labels = self.until((":",))
                self.take(":")
                stmt.has_default |= any(t.text == "default" for t in labels)
                stmt.body.append(self.statement())
            self.take("endcase")
            return stmt
        if word == ";":
            return _Stmt("other", tok.pos)
        rest = [tok, *self.until((";",))]
        self.take(";")
        texts = [t.text for t in rest]
        if "<+" in texts:
            cut = texts.index("<+")
            return _Stmt("contrib", tok.pos, rest[cut + 1:], lhs="".join(texts[:cut]), target=rest[:cut])
        if word in ("real", "integer"):
            return _Stmt("decl", tok.pos, rest[1:])
        if len(rest) > 1 and rest[1].text == "=" and tok.kind == "id":
            return _Stmt("assign", tok.pos, rest[2:], lhs=word)
        if "=" in texts and tok.kind == "id":   # an indexed variable: a[k] = ...
            return _Stmt("assign", tok.pos, rest[texts.index("=") + 1:], lhs=word)
        return _Stmt("other", tok.pos, rest)


def _walk(stmts: list[_Stmt]):
    for s in stmts:
        yield s
        yield from _walk(s.body)
        yield from _walk(s.orelse)


def _names(tokens: list[_Tok]) -> list[_Tok]:
    return [t for t in tokens if t.kind == "id"]


def _accessed_nodes(tokens: list[_Tok]) -> set[str]:
    """Nodes named in ``V(a)``, ``V(a, b)``, ``I(a)`` ... accesses among ``tokens``."""
    found = set()
    for j, t in enumerate(tokens[:-2]):
        if t.text in ("V", "I") and tokens[j + 1].text == "(":
            k = j + 2
            while k < len(tokens) and tokens[k].text != ")":
                if tokens[k].kind == "id":
                    found.add(tokens[k].text)
                k += 1
    return found


def _paren(tokens: list[_Tok], open_at: int) -> tuple[list[_Tok], int]:
    """The tokens inside the parentheses opening at ``open_at`` and the index of the closing one."""
    depth, k = 0, open_at
    while k < len(tokens):
        depth += {"(": 1, ")": -1}.get(tokens[k].text, 0)
        if depth == 0:
            break
        k += 1
    return tokens[open_at + 1:k], k


def _inside_call(tokens: list[_Tok], name: str) -> list[list[_Tok]]:
    """Argument tokens of every ``name(...)`` call among ``tokens``."""
    return [_paren(tokens, j + 1)[0] for j, t in enumerate(tokens[:-1])
            if t.text == name and tokens[j + 1].text == "("]


# -- the checks ------------------------------------------------------------------------------------
class _ModuleCheck:
    def __init__(self, src: _Source, name: str, header: list[_Tok], body: list[_Tok], pos: int,
                 findings: list[Finding]) -> None:
        self.src, self.name, self.pos, self.findings = src, name, pos, findings
        self.header, self.body = header, body
        self.states: list[str] = []

    def add(self, pos: int, severity: str, code: str, message: str) -> None:
        self.findings.append(Finding(*self.src.where(pos), severity, code, message))

    def run(self) -> None:
        ports, port_disciplines = self._ports()
        disciplines, variables = self._declarations(port_disciplines)
        self._terminals(ports, disciplines)
        tokens = self.header + self.body
        for k, tok in enumerate(tokens):
            called = k + 1 < len(tokens) and tokens[k + 1].text == "("
            if tok.kind == "id" and (called or tok.text.startswith("$")):
                self._unsupported(tok)
        analog = self._analog()
        if analog is None:
            self.add(self.pos, "error", "no-analog", f"module {self.name} has no analog block")
        if not analog:
            return
        internal = {n for n, d in disciplines.items() if n not in ports and d == "electrical"}
        persistent = self._persistence(analog, variables)
        self._state(analog, internal, bool(persistent))
        self._clipping(analog)

    def _ports(self) -> tuple[list[str], dict[str, str]]:
        ports, disc, item = [], {}, []
        for tok in [*self.header, _Tok(",", 0, "op")]:
            if tok.text == ",":
                names = [t.text for t in item if t.kind == "id"]
                if names:
                    ports.append(names[-1])
                    for word in names[:-1]:
                        if word in DISCIPLINES:
                            disc[names[-1]] = word
                item = []
            else:
                item.append(tok)
        return ports, disc

    def _declarations(self, disc: dict[str, str]) -> tuple[dict[str, str], dict[str, int]]:
        """Disciplines of nets and the module-level variables (name -> position)."""
        disciplines, variables = dict(disc), {}
        statement: list[_Tok] = []
        for tok in self.body:
            if tok.text == "analog" and not statement:
                break
            if tok.text != ";":
                statement.append(tok)
                continue
            words = [t for t in statement if t.kind == "id"]
            if words and words[0].text in DISCIPLINES:
                for t in words[1:]:
                    disciplines[t.text] = words[0].text
            elif words and words[0].text in ("real", "integer"):
                self._variables(statement[1:], variables)
            statement = []
        return disciplines, variables

    def _variables(self, tokens: list[_Tok], variables: dict[str, int]) -> None:
        depth, expect = 0, True
        for t in tokens:
            if t.text in "([{":
                depth += 1
            elif t.text in ")]}":
                depth -= 1
            elif depth == 0 and t.text == ",":
                expect = True
            elif depth == 0 and t.text == "=":
                expect = False
            elif depth == 0 and expect and t.kind == "id":
                variables[t.text] = t.pos
                expect = False
                if t.text in ("I", "V"):
                    self.add(t.pos, "error", "reserved-name",
                             f"a variable may not be named {t.text} in Verilog-A ({t.text}(...) is the branch "
                             "access function); rename it")

    def _terminals(self, ports: list[str], disciplines: dict[str, str]) -> None:
        if len(ports) != 2:
            self.add(self.pos, "error", "terminals",
                     f"module {self.name} has {len(ports)} port{'s' * (len(ports) != 1)}"
                     f"{' (' + ', '.join(ports) + ')' if ports else ''}; a memristor has exactly two "
                     "electrical terminals, e.g. (p, n)")
        for port in ports:
            if disciplines.get(port) != "electrical":
                self.add(self.pos, "error", "terminals",
                         f"port {port} of module {self.name} is not declared electrical")

    def _unsupported(self, tok: _Tok) -> None:
        for pattern, code, advice in _UNSUPPORTED:
            if pattern.match(tok.text):
                self.add(tok.pos, "error", code, f"{tok.text} {advice}")

    def _analog(self) -> list[_Stmt] | None:
        texts = [t.text for t in self.body]
        for j, word in enumerate(texts):
            if word == "analog" and j + 1 < len(texts) and texts[j + 1] != "function":
                parser = _Parser(self.body[j + 1:])
                first = parser.peek()
                if first == "initial":
                    parser.take()
                try:
                    return [parser.statement()]
                except _ParseError as exc:
                    self.add(exc.pos, "warning", "not-scanned",
                             f"the analog block could not be scanned here ({exc}); the state, persistence and "
                             "clipping checks were skipped and only OpenVAF checks it")
                    return []
        return None

    def _persistence(self, analog: list[_Stmt], variables: dict[str, int]) -> set[str]:
        """Variables read before they are assigned in the analog block (kept between steps)."""
        reported: dict[str, int] = {}
        in_event: dict[str, tuple[int, str]] = {}  # variable -> where and in which @(event)
        self_updates: dict[str, int] = {}   # set in @(initial_step), then updated from itself
        captures: dict[str, int] = {}       # set in @(initial_step) from a probe or the time
        abstime = [t.pos for s in _walk(analog) for t in s.tokens if t.text == "$abstime"]
        local: set[str] = set()

        def reads(tokens: list[_Tok], assigned: set[str]) -> None:
            for t in _names(tokens):
                name = t.text
                if (name in variables or name in local) and name not in assigned and name not in reported:
                    reported[name] = t.pos

        def flow(stmts: list[_Stmt], assigned: set[str], event: str) -> set[str]:
            for s in stmts:
                if s.kind == "decl":
                    self._variables(s.tokens, {})
                    local.update(t.text for t in _names(s.tokens))
                elif s.kind == "assign":
                    reads(s.tokens, assigned)
                    texts = {t.text for t in s.tokens}
                    if event == "initial_step" and texts & {"V", "I", "$abstime", "ddt", "idt"}:
                        captures.setdefault(s.lhs, s.pos)
                    if not event and s.lhs in texts and in_event.get(s.lhs, (0, ""))[1] == "initial_step":
                        self_updates.setdefault(s.lhs, s.pos)
                    if event:
                        in_event.setdefault(s.lhs, (s.pos, event))
                    if event in ("", "initial_step"):   # OpenVAF runs @(initial_step) at every evaluation
                        assigned = assigned | {s.lhs}
                elif s.kind in ("contrib", "other"):
                    reads(s.tokens, assigned)
                elif s.kind == "block":
                    assigned = flow(s.body, assigned, event)
                elif s.kind == "if":
                    reads(s.tokens, assigned)
                    a = flow(s.body, set(assigned), event)
                    b = flow(s.orelse, set(assigned), event)
                    assigned = a & b if s.orelse else assigned
                elif s.kind == "event" and s.event == "initial_step":
                    assigned = flow(s.body, assigned, "initial_step")
                elif s.kind == "event":
                    flow(s.body, set(assigned), s.event or "event")
                elif s.kind == "loop":
                    head = s.tokens
                    if s.event == "for" and len(head) > 2 and head[1].text == "=":
                        init = next((k for k, t in enumerate(head) if t.text == ";"), len(head))
                        reads(head[2:init], assigned)
                        assigned = assigned | {head[0].text}
                        head = head[init:]
                    reads(head, assigned)
                    flow(s.body, set(assigned), event)
                elif s.kind == "case":
                    reads(s.tokens, assigned)
                    branches = [flow([b], set(assigned), event) for b in s.body]
                    if s.has_default and branches:
                        assigned = set.intersection(*branches)
            return assigned

        flow(analog, set(), "")
        time_vars = {s.lhs for s in _walk(analog) if s.kind == "assign" and any(t.text == "$abstime" for t in s.tokens)}
        for name, pos in reported.items():
            if abstime and (time_vars & set(reported)):
                self.add(pos, "error", "hand-integration",
                         f"{name} is carried over from the previous time step and advanced with $abstime "
                         "differences (integration by hand): OpenVAF keeps no variable between time steps, "
                         f"so this compiles and runs wrongly; {_NODE_STATE}")
            elif name in in_event:
                line = self.src.where(in_event[name][0])[1]
                self.add(pos, "error", "persistent-variable",
                         f"{name} is assigned only in @({in_event[name][1]} ...) (line {line}) and read as if it kept "
                         f"its value between evaluations: OpenVAF keeps no variable between time steps; {_NODE_STATE}")
            else:
                self.add(pos, "error", "persistent-variable",
                         f"{name} is read before it is assigned in the analog block, so it would need its value "
                         f"from the previous evaluation: OpenVAF keeps no variable between time steps; {_NODE_STATE}")
        for name, pos in self_updates.items():
            line = self.src.where(in_event[name][0])[1]
            self.add(pos, "error", "initial-step-state",
                     f"{name} is set in @(initial_step) (line {line}) and then updated from itself as if it kept "
                     f"its value: OpenVAF runs @(initial_step) at every evaluation and keeps no variable between "
                     f"time steps, so {name} starts again from its initial value every time; keep the state on an "
                     "internal node started from a parameter: x = x0 + V(st), I(st) <+ ddt(V(st)) - dxdt;")
        for name, pos in captures.items():
            self.add(pos, "error", "initial-step-capture",
                     f"{name} is set in @(initial_step) from a node, a current or the time, meant as the value at "
                     f"the first step: OpenVAF runs @(initial_step) at every evaluation, so {name} follows the "
                     "present value instead; pass the initial value as a parameter")
        return set(reported) | set(self_updates)

    def _state(self, analog: list[_Stmt], internal: set[str], hand_kept: bool) -> None:
        ddt_pos, on_nodes = None, set()
        for s in _walk(analog):
            for fn in ("ddt", "idt"):
                for args in _inside_call(s.tokens, fn):
                    ddt_pos = ddt_pos if ddt_pos is not None else s.pos
                    nodes = (_accessed_nodes(args) | _accessed_nodes(s.target)) & internal
                    if fn == "idt" and s.kind == "assign":
                        self.add(s.pos, "error", "unreadable-state",
                                 f"idt(...) into the variable {s.lhs} keeps the state inside the compiled model, "
                                 f"where it cannot be read back or started from x0; {_NODE_STATE}")
                    elif nodes:
                        on_nodes |= nodes
        self.states = sorted(on_nodes)
        if on_nodes:
            return
        if ddt_pos is not None:
            if not any(f.code == "unreadable-state" for f in self.findings):
                self.add(ddt_pos, "error", "unreadable-state",
                         "ddt acts only on terminal quantities (a capacitance), not on an internal node: the "
                         f"device has no state that can be read back; {_NODE_STATE}")
        elif not hand_kept:
            self.add(self.pos, "error", "no-state",
                     f"module {self.name} has no state: nothing is integrated by ddt, so to ngspice it is a "
                     f"memoryless resistor; {_NODE_STATE}")

    def _clipping(self, analog: list[_Stmt]) -> None:
        """Warn about ``if (x > 1) x = 1;``-style hard clipping of state-derived quantities."""
        related: set[str] = set()
        states = set(self.states)

        def touches(tokens: list[_Tok]) -> bool:
            return bool(_accessed_nodes(tokens) & states) or any(t.text in related for t in _names(tokens))

        for s in _walk(analog):
            if s.kind == "assign" and touches(s.tokens):
                related.add(s.lhs)
        for s in _walk(analog):
            texts = {t.text for t in s.tokens}
            if s.kind == "if" and texts & _COMPARE and touches(s.tokens):
                if any(b.kind == "assign" for b in _walk(s.body + s.orelse)):
                    cond = " ".join(t.text for t in s.tokens)
                    self.add(s.pos, "warning", "hard-clip",
                             f"hard clipping of the state (if ({cond}) ...): the step stalls Newton iterations "
                             f"and the time step; {_SMOOTH}")
            elif s.kind in ("assign", "contrib") and "?" in texts and texts & _COMPARE and touches(s.tokens):
                self.add(s.pos, "warning", "hard-clip",
                         f"hard clipping of the state with ?: in {s.lhs or 'a contribution'}: the step stalls "
                         f"Newton iterations and the time step; {_SMOOTH}")


def _modules(src: _Source, findings: list[Finding]) -> list[_ModuleCheck]:
    toks = _tokens(src.text, 0, len(src.text))
    out, k = [], 0
    while k < len(toks):
        if toks[k].text in ("module", "macromodule") and k + 1 < len(toks):
            pos, name = toks[k].pos, toks[k + 1].text
            j = k + 2
            header: list[_Tok] = []
            if j < len(toks) and toks[j].text == "(":
                header, j = _paren(toks, j)
                j += 1
            end = j
            while end < len(toks) and toks[end].text != "endmodule":
                end += 1
            out.append(_ModuleCheck(src, name, header, toks[j:end], pos, findings))
            k = end + 1
        else:
            k += 1
    return out


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_OPENVAF_MSG = re.compile(r"^(error|warning)(?:\[\w+\])?:\s*(.*)$")
_OPENVAF_AT = re.compile(r"^\s*-->\s*(.*?):(\d+):(\d+)\s*$")


def parse_openvaf(output: str, default_path: str) -> list[Finding]:
    """OpenVAF's diagnostics (``error: message`` then ``--> file:line:col``) as findings."""
    findings: list[Finding] = []
    lines = [_ANSI.sub("", line) for line in output.splitlines()]
    for k, line in enumerate(lines):
        m = _OPENVAF_MSG.match(line.strip())
        if not m or m.group(2).startswith("could not compile"):
            continue
        path, number = default_path, 1
        for follow in lines[k + 1:k + 4]:
            at = _OPENVAF_AT.match(follow)
            if at:
                path, number = at.group(1), int(at.group(2))
                break
        findings.append(Finding(path, number, m.group(1), "openvaf", f"OpenVAF: {m.group(2)}"))
    return findings


SMOKE_VOLTAGE = 0.1  # V across the device in the ngspice operating point of a check


def _smoke(report: VaReport, path: str) -> None:
    """Load the compiled module into ngspice and solve one operating point per module at
    :data:`SMOKE_VOLTAGE`: the current must be finite and every state node visible. An operating
    point that needs ngspice's convergence remedies is a warning (usually a state node without
    a DC path)."""
    import tempfile

    from memcircuit.errors import ConvergenceError, SimulationError
    from memcircuit.netlist import Circuit, Op, VoltageSource
    from memcircuit.netlist.ir import Model, ModelInstance
    from memcircuit.spice.batch import BatchEngine, ngspice_executable

    def add(severity: str, code: str, message: str) -> None:
        report.findings.append(Finding(*report.where.get(module, (path, 1)), severity, code, message))

    try:
        ngspice_executable()
    except SimulationError as exc:
        report.not_run = str(exc)
        return
    report.ran = True
    for module in report.modules:
        circuit = Circuit("memcircuit models check", elements=(
            VoltageSource("Vchk", ("p", "0"), dc=SMOKE_VOLTAGE), ModelInstance("Nchk", ("p", "0"), model="mchk")),
            models=(Model("mchk", module),), osdi=(str(report.osdi),))
        rescued = ""
        # a throw-away run root: the run directories of failed attempts are not worth keeping here
        with tempfile.TemporaryDirectory(prefix="memcircuit-check-") as root:
            try:
                try:
                    with BatchEngine(timeout=60, remedies=False, run_root=root) as engine:
                        result = engine.run(circuit, Op())
                except ConvergenceError as exc:
                    rescued = exc.args[0]
                    with BatchEngine(timeout=60, run_root=root) as engine:
                        result = engine.run(circuit, Op())
            except (SimulationError, ModelCompileError) as exc:
                add("error", "ngspice", f"ngspice could not solve module {module} at {SMOKE_VOLTAGE} V: "
                                        + " ".join(str(exc.args[0]).split())[:400])
                continue
        if rescued:
            add("warning", "dc-path", f"ngspice solved module {module} at {SMOKE_VOLTAGE} V only with its convergence "
                                      f"remedies ({rescued}); a state node usually lacks a DC path: add a tiny leak as "
                                      "the built-in models do, I(st) <+ ddt(V(st)) - dxdt + 1e-15*V(st);")
        if not np.all(np.isfinite(np.asarray(result[Current("Vchk")], dtype=float))):
            add("error", "ngspice", f"module {module} gives a non-finite current at {SMOKE_VOLTAGE} V in ngspice")
        missing = [node for node in report.states.get(module, [])
                   if vector(StateNode("Nchk", node, compiled=True)) not in result]
        if missing:
            add("error", "unreadable-state", f"ngspice does not show the state node(s) {', '.join(missing)} of "
                                             f"module {module} (expected v(<instance>#{missing[0]}))")


def check_va(path: str | Path, *, compile: bool = True, simulate: bool = True) -> VaReport:
    """Scan a Verilog-A memristor model, compile it with OpenVAF and solve one operating point
    of it in ngspice (see the module docstring).

    The compiler runs only when the scan found no error (``not_compiled`` says why otherwise),
    ngspice only when the model compiled and ``simulate`` (``not_run`` says why it did not).
    Raises :class:`ModelCompileError` only when the file cannot be read."""
    src_path = Path(path)
    if not src_path.is_file():
        raise ModelCompileError(f"Verilog-A source not found: {src_path}")
    report = VaReport(src_path)
    src = _Source(src_path, report.findings)
    modules = _modules(src, report.findings)
    if not modules:
        report.findings.append(Finding(str(src_path), 1, "error", "no-module", "no module ... endmodule found"))
    for module in modules:
        module.run()
        report.modules.append(module.name)
        report.states[module.name] = module.states
        report.where[module.name] = src.where(module.pos)
    report.findings.sort(key=lambda f: (f.path != str(src_path), f.path, f.line))
    if report.errors:
        report.not_compiled = "fix the errors first"
    elif not compile:
        report.not_compiled = "not asked to"
    else:
        from memcircuit.spice.osdi import compile_va

        try:
            report.osdi = compile_va(src_path, depends=src.files)
            report.compiled = True
            if simulate:
                _smoke(report, str(src_path))
            else:
                report.not_run = "not asked to"
        except ModelCompileError as exc:
            shown = {Path(name).resolve(): name for name, _ in src.origin}   # as the findings name files
            found = [Finding(shown.get(Path(f.path).resolve(), f.path), *astuple(f)[1:])
                     for f in parse_openvaf(exc.output, str(src_path))]
            if not found:
                found = [Finding(str(src_path), 1, "error", "openvaf", str(exc))]
            report.findings.extend(found)
            report.not_compiled = "OpenVAF failed" if exc.output else str(exc)
    return report


def runnable_report(path: str | Path) -> VaReport:
    """:func:`check_va` of a model about to be simulated: the report of a model without errors
    (compiled, ``osdi`` set), else :class:`ModelCompileError` naming the first error
    (``PATH:LINE: error: ...``) and how many more there are, exactly as ``memcircuit models
    check`` reports them (the ngspice operating point included)."""
    report = check_va(path)
    if report.errors:
        first = report.errors[0].format()
        more = len(report.errors) - 1
        tail = f" (and {more} more error{'s' * (more != 1)}; `memcircuit models check {path}` lists them)"
        raise ModelCompileError(first + (tail if more else ""))
    assert report.osdi is not None
    return report


def require_runnable(path: str | Path) -> Path:
    """Check a user's Verilog-A model before any simulation uses it; return the compiled ``.osdi``
    (see :func:`runnable_report`)."""
    return runnable_report(path).osdi


def source_text(path: str | Path) -> str:
    """The model's source with comments and strings blanked and includes next to it inlined."""
    return _Source(Path(path), []).text
