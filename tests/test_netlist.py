"""Netlist IR validation, sanitising and the writer (golden file)."""

from pathlib import Path

import pytest

from memcircuit.errors import NetlistError
from memcircuit.netlist import (
    BehavioralSource,
    Capacitor,
    Circuit,
    CurrentSource,
    Expr,
    Model,
    ModelInstance,
    Op,
    Pulse,
    Pwl,
    Resistor,
    Sine,
    Subckt,
    SubcktInstance,
    Tran,
    Vccs,
    Vcvs,
    VoltageSource,
    sanitize,
    write,
)
from memcircuit.netlist.ir import DcSweep

GOLDEN = Path(__file__).parent / "data" / "netlist" / "writer_golden.cir"


def sample_circuit() -> Circuit:
    cell = Subckt(
        "cell", ("p", "n"),
        (Resistor("R1", ("p", "mid"), Expr("rcell")), Capacitor("C1", ("mid", "n"), 1e-15, ic=0.0),
         BehavioralSource("Bx", ("mid", "n"), "I", Expr("V(mid, n) * 1e-6"))),
        params=(("rcell", 1e4),),
    )
    return Circuit(
        "writer golden",
        elements=(
            VoltageSource("Vin", ("in", "0"), dc=0.2, wave=Pulse(0, 1.5, 1e-9, 1e-9, 1e-9, 1e-6, 2e-6)),
            VoltageSource("Vpwl", ("p2", "0"), wave=Pwl(((0, 0), (1e-6, 1.0), (2e-6, -1.0)))),
            VoltageSource("Vsin", ("p3", "0"), wave=Sine(0, 1.2, 1e3)),
            CurrentSource("Ibias", ("0", "in"), dc=1e-6),
            Resistor("Rload", ("in", "out"), 4.7e3),
            Vcvs("Eamp", ("o2", "0", "out", "0"), 1e5),
            Vccs("Gm", ("o3", "0", "out", "0"), 2e-3),
            ModelInstance("D1", ("out", "0"), model="dmod"),
            SubcktInstance("Xc1", ("out", "0"), subckt="cell", params=(("rcell", 2.2e4),)),
        ),
        subckts=(cell,),
        models=(Model("dmod", "d", (("is", 1e-14), ("n", 1.05))),),
        params=(("vdd", 1.2),),
        options=(("reltol", 1e-4),),
    )


def test_writer_matches_golden(update_golden):
    text = write(sample_circuit(), analyses=[Op(), Tran(1e-9, 1e-6)])
    if update_golden or not GOLDEN.exists():
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text()


def test_writer_always_enables_klu():
    text = write(Circuit("t", elements=(Resistor("R1", ("a", "0"), 1.0),)))
    assert ".options klu" in text.splitlines()[-2]


def test_writer_folds_long_lines():
    points = tuple((i * 1e-6, (-1) ** i * 0.5) for i in range(200))
    text = write(Circuit("t", elements=(VoltageSource("V1", ("a", "0"), wave=Pwl(points)),)))
    lines = text.splitlines()
    assert max(len(ln) for ln in lines) <= 200
    assert sum(ln.startswith("+ ") for ln in lines) > 3


@pytest.mark.parametrize("bad", ["a b", "a;shell rm", "x\n.control", "", "1abc", "a.b", "{p}"])
def test_element_names_are_checked(bad):
    with pytest.raises(NetlistError):
        Resistor("R" + bad if bad and bad[0] != "1" else bad, ("a", "0"), 1.0)


@pytest.mark.parametrize("bad", ["a b", "n\n.control", "", "x.y", "a{b}"])
def test_node_names_are_checked(bad):
    with pytest.raises(NetlistError):
        Resistor("R1", (bad, "0"), 1.0)


def test_element_letter_is_enforced():
    with pytest.raises(NetlistError, match="must start with 'R'"):
        Resistor("X1", ("a", "0"), 1.0)


@pytest.mark.parametrize("bad", ["V(a)\n.control", "1; shell ls", "V(a", "'quoted'", "$x", "a\\b"])
def test_expressions_are_checked(bad):
    with pytest.raises(NetlistError):
        Expr(bad)


def test_duplicates_and_clashes_rejected():
    with pytest.raises(NetlistError, match="duplicate"):
        Circuit("t", elements=(Resistor("R1", ("a", "0"), 1.0), Resistor("r1", ("b", "0"), 2.0)))
    s1 = Subckt("s", ("a",), (Resistor("R1", ("a", "0"), 1.0),))
    s2 = Subckt("s", ("a",), (Resistor("R1", ("a", "0"), 2.0),))
    assert len(Circuit("t", subckts=(s1, s1)).subckts) == 1
    with pytest.raises(NetlistError, match="two different"):
        Circuit("t", subckts=(s1, s2))


def test_values_validated():
    with pytest.raises(NetlistError):
        Resistor("R1", ("a", "0"), -5.0)
    with pytest.raises(NetlistError):
        Resistor("R1", ("a", "0"), "1k; shell")  # type: ignore[arg-type]
    with pytest.raises(NetlistError):
        Tran(1e-3, 1e-6)
    with pytest.raises(NetlistError):
        DcSweep("V1", 0, 1, -0.1)
    with pytest.raises(NetlistError):
        Pwl(((1e-6, 0), (0.0, 1)))


def test_ir_is_immutable():
    r = Resistor("R1", ("a", "0"), 1.0)
    with pytest.raises(AttributeError):
        r.resistance = 2.0  # type: ignore[misc]


@pytest.mark.parametrize("text", ["layer 1", "fc/1", "R1", "x;shell rm -rf", "Ω", "", "12"])
def test_sanitize_gives_identifiers_and_no_collisions(text):
    from memcircuit.netlist.ir import IDENT

    name = sanitize(text)
    assert IDENT.match(name)
    assert sanitize(text) == name  # deterministic


def test_sanitize_distinguishes_inputs():
    assert sanitize("a b") != sanitize("a_b")
    assert sanitize("a_b") == "a_b"
    assert sanitize("Layer1") == "layer1"
