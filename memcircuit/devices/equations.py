"""One set of device equations, three forms: numpy, ngspice B sources and Verilog-A.

Every family writes its physics once, as :class:`Equations`: a few named intermediate
quantities (``defs``), the device current and the state derivative, in a small expression
language that ngspice, OpenVAF and numpy all understand:

* names: ``v`` (volts across the device, ``V(p) - V(n)``), ``x`` (dimensionless state),
  the family's parameter names, earlier ``defs``;
* operators ``+ - * /`` and parentheses (no ``**``, no ``^``, no conditionals: the forms must
  be smooth for Newton iterations);
* functions ``exp ln sqrt sinh cosh tanh sin cos abs pow min max``;
* smooth helpers expanded in place (:data:`MACROS`): ``sp(z, k)`` softplus with knee ``k``
  (a smooth ``max(z, 0)``), ``sig(z, k)`` logistic step of width ``k``, ``bnd(d, s)`` the
  smooth state window ``tanh(d / s)`` (1 far inside a bound, 0 on it, restoring beyond it) and
  ``stair(u)`` a smooth staircase (equal to ``u`` on integers, flat around them).

The numpy form evaluates the text with numpy functions (so parameters may be arrays: one value
per device); the ngspice form substitutes ``v -> V(p, n)``, ``x -> V(x)`` and inlines ``defs``;
the Verilog-A form declares ``defs`` as ``real`` variables and writes ``exp`` as ``limexp``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from memcircuit.errors import ConfigError

TWO_PI = "6.283185307179586"

#: name -> (argument names, template). Templates use only functions all three forms know.
MACROS: dict[str, tuple[tuple[str, ...], str]] = {
    "sp": (("z", "k"), "(k)*(max((z)/(k), 0) + ln(1 + exp(-abs((z)/(k)))))"),
    "sig": (("z", "k"), "(0.5 + 0.5*tanh((z)/(2*(k))))"),
    "bnd": (("d", "s"), "tanh((d)/(s))"),
    "stair": (("u",), f"((u) - sin({TWO_PI}*(u))/{TWO_PI})"),
}

NUMPY_FUNCS: dict[str, object] = {
    "exp": np.exp, "ln": np.log, "sqrt": np.sqrt, "sinh": np.sinh, "cosh": np.cosh, "tanh": np.tanh,
    "sin": np.sin, "cos": np.cos, "abs": np.abs, "pow": np.power, "min": np.minimum, "max": np.maximum,
}
FUNCTIONS = frozenset(NUMPY_FUNCS)
#: names a parameter or def may not take (ports, internal nodes, variables, keywords).
RESERVED = frozenset({"v", "x", "p", "n", "st", "q0", "x0", "vpn", "xst", "i", "pi", "time", "temper", "hertz",
                      "real", "integer", "begin", "end", "module", "parameter", "from", "exclude", "inf",
                      "analog", "branch", "ground", "electrical", "if", "else", "case", "for", "while",
                      "function", "output", "input", "inout", "string", "limexp", "ddt", "idt", "log", "e"})

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"(?<![A-Za-z_0-9.])(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def _matching(text: str, open_at: int) -> int:
    depth = 0
    for k in range(open_at, len(text)):
        if text[k] == "(":
            depth += 1
        elif text[k] == ")":
            depth -= 1
            if depth == 0:
                return k
    raise ConfigError(f"unbalanced parentheses in {text!r}")


def _split_args(text: str) -> list[str]:
    args, depth, start = [], 0, 0
    for k, c in enumerate(text):
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "," and depth == 0:
            args.append(text[start:k].strip())
            start = k + 1
    args.append(text[start:].strip())
    return args


def expand(text: str) -> str:
    """Expand the smooth helper macros (recursively) into plain functions."""
    out, pos = [], 0
    for match in _IDENT.finditer(text):
        if match.start() < pos:
            continue
        name = match.group(0)
        after = match.end()
        if name in MACROS and after < len(text) and text[after] == "(":
            close = _matching(text, after)
            args = [expand(a) for a in _split_args(text[after + 1:close])]
            names, template = MACROS[name]
            if len(args) != len(names):
                raise ConfigError(f"{name}() takes {len(names)} arguments, got {len(args)} in {text!r}")
            table = dict(zip(names, args))
            body = re.sub(r"\b(" + "|".join(names) + r")\b", lambda m, t=table: "(" + t[m.group(1)] + ")", template)
            out.append(text[pos:match.start()] + "(" + body + ")")
            pos = close + 1
    out.append(text[pos:])
    return "".join(out)


def substitute(text: str, table: Mapping[str, str]) -> str:
    """Replace whole identifiers found in ``table`` (one pass; numbers' exponents untouched)."""
    def repl(m: re.Match) -> str:
        start = m.start()
        # the 'e' of '1e-3' or a name inside a number is not an identifier
        if start > 0 and (text[start - 1].isdigit() or text[start - 1] == "."):
            return m.group(0)
        return table.get(m.group(0), m.group(0))

    return _IDENT.sub(repl, text)


def identifiers(text: str) -> set[str]:
    found = set()
    for m in _IDENT.finditer(text):
        start = m.start()
        if start > 0 and (text[start - 1].isdigit() or text[start - 1] == "."):
            continue
        found.add(m.group(0))
    return found


@dataclass(frozen=True)
class Equations:
    """A device's physics: intermediate ``defs`` (name, expression), ``current`` (A) and
    ``dxdt`` (1/s), in the expression language of this module (see the module docstring)."""

    current: str
    dxdt: str
    defs: tuple[tuple[str, str], ...] = ()

    @cached_property
    def expanded(self) -> tuple[tuple[tuple[str, str], ...], str, str]:
        return (tuple((k, expand(e)) for k, e in self.defs), expand(self.current), expand(self.dxdt))

    def check(self, params: set[str]) -> None:
        """Every identifier must be a function, ``v``, ``x``, a parameter or an earlier def."""
        known = set(FUNCTIONS) | {"v", "x"} | set(params)
        defs, cur, dx = self.expanded
        for name, text in defs:
            unknown = identifiers(text) - known
            if unknown:
                raise ConfigError(f"def {name}: unknown names {sorted(unknown)}")
            if name in RESERVED or name in known:
                raise ConfigError(f"def name {name!r} clashes with a reserved or known name")
            known.add(name)
        for what, text in (("current", cur), ("dxdt", dx)):
            unknown = identifiers(text) - known
            if unknown:
                raise ConfigError(f"{what}: unknown names {sorted(unknown)}")

    # -- numpy ----------------------------------------------------------------------------------
    def _needed(self, targets: tuple[str, ...]) -> list[tuple[str, str]]:
        """The defs (in order) that ``targets`` (def names or expression texts) depend on."""
        defs, cur, dx = self.expanded
        texts = {"current": cur, "dxdt": dx, **dict(defs)}
        need = {t for t in targets if t in dict(defs)}
        stack = [texts.get(t, t) for t in targets]
        while stack:
            for name in identifiers(stack.pop()):
                if name in dict(defs) and name not in need:
                    need.add(name)
                    stack.append(texts[name])
        return [(k, e) for k, e in defs if k in need]

    def function(self, params: tuple[str, ...], targets: tuple[str, ...]):
        """A compiled numpy function ``f(v, x, *params) -> tuple`` of the ``targets``
        (``"current"``, ``"dxdt"`` or def names); cached per argument list."""
        key = (params, targets)
        cache = self.__dict__.setdefault("_functions", {})
        if key not in cache:
            defs, cur, dx = self.expanded
            texts = {"current": cur, "dxdt": dx, **dict(defs)}
            body = [f"    {k} = {e}" for k, e in self._needed(targets)]
            results = (texts[t] if t in ("current", "dxdt") else t for t in targets)
            body.append("    return (" + "".join(f"{r}, " for r in results) + ")")
            source = f"def _f(v, x, {', '.join(params)}):\n" + "\n".join(body) + "\n"
            ns: dict[str, object] = {"__builtins__": {}}
            ns.update(NUMPY_FUNCS)
            exec(compile(source, f"<equations {targets}>", "exec"), ns)  # noqa: S102 - our own equations
            cache[key] = ns["_f"]
        return cache[key]

    def evaluate(self, params: Mapping[str, object], v: np.ndarray, x: np.ndarray,
                 what: tuple[str, ...] = ("current", "dxdt")) -> tuple[np.ndarray, ...]:
        """Evaluate with numpy: ``params`` values may be scalars or arrays broadcasting with v, x.

        ``what`` names the results: ``"current"``, ``"dxdt"`` or any def. Results have the
        broadcast shape of ``v``, ``x`` and the array parameters.
        """
        names = tuple(params)
        f = self.function(names, tuple(what))
        v = np.asarray(v, dtype=float)
        x = np.asarray(x, dtype=float)
        values = tuple(params.values())
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            out = f(v, x, *values)
        # getattr, not np.shape: this runs thousands of times an epoch, mostly on float parameters
        key = (v.shape, x.shape, *(getattr(a, "shape", ()) for a in values))
        shapes = self.__dict__.setdefault("_shapes", {})
        if key not in shapes:
            shapes[key] = np.broadcast_shapes(*key)
        shape = shapes[key]
        return tuple(o if getattr(o, "shape", ()) == shape else np.broadcast_to(o, shape).astype(float) for o in out)

    # -- ngspice ---------------------------------------------------------------------------------
    def spice(self) -> tuple[str, str]:
        """(current, dxdt) as ngspice B-source expressions of ``V(p, n)``, ``V(x)`` and parameters."""
        table = {"v": "V(p, n)", "x": "V(x)"}
        defs, cur, dx = self.expanded
        for name, text in defs:
            table[name] = "(" + substitute(text, table) + ")"
        return _spaced(substitute(cur, table)), _spaced(substitute(dx, table))

    # -- Verilog-A -------------------------------------------------------------------------------
    def verilog_a(self) -> tuple[list[str], str, str]:
        """(statements for the defs, current, dxdt) in Verilog-A, with ``vpn``/``xst`` for v/x."""
        table = {"v": "vpn", "x": "xst"}

        def va(text: str) -> str:
            return _spaced(substitute(text, table).replace("exp(", "limexp(").replace("limlimexp(", "limexp("))

        defs, cur, dx = self.expanded
        return [f"{name} = {va(text)};" for name, text in defs], va(cur), va(dx)


def _spaced(text: str) -> str:
    """Spaces around + and - (not the sign of an exponent) so long lines can be folded."""
    return re.sub(r" +", " ", re.sub(r"(?<![0-9.][eE])([+-])", r" \1 ", text)).strip()
