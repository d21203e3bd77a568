"""Both ngspice engines against analytic answers, and their failure handling."""

from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
import pytest

from memcircuit.errors import ConvergenceError, NetlistError, SimulationError, SimulationTimeout
from memcircuit.netlist import (
    BehavioralSource,
    Capacitor,
    Circuit,
    Expr,
    External,
    Model,
    ModelInstance,
    Op,
    Pulse,
    Resistor,
    Tran,
    VoltageSource,
)
from memcircuit.netlist.ir import DcSweep
from memcircuit.spice import BatchEngine, SharedEngine, UserNetlist, compile_va, run
from memcircuit.spice.engine import classify
from memcircuit.spice.shared import DIES_AT_ENV

pytestmark = pytest.mark.ngspice

ENGINES = ["batch", "shared"]


def divider(r1: float = 1e3, r2: float = 3e3, vin: float = 1.0) -> Circuit:
    return Circuit("divider", elements=(VoltageSource("V1", ("a", "0"), dc=vin),
                                        Resistor("R1", ("a", "b"), r1), Resistor("R2", ("b", "0"), r2)))


def rc(r: float = 1e3, c: float = 1e-6) -> Circuit:
    return Circuit("rc", elements=(VoltageSource("V1", ("in", "0"), wave=Pulse(0, 1, 0, 1e-9, 1e-9, 1.0)),
                                   Resistor("R1", ("in", "out"), r), Capacitor("C1", ("out", "0"), c)))


@pytest.fixture(params=ENGINES)
def engine(request, shared_engine):
    if request.param == "shared":
        yield shared_engine
    else:
        with BatchEngine() as eng:
            yield eng


@pytest.mark.parametrize("r1, r2, vin", [(1e3, 3e3, 1.0), (47.0, 1e6, -2.5), (1e6, 1e6, 0.3)])
def test_divider_matches_analytic(engine, r1, r2, vin):
    result = engine.run(divider(r1, r2, vin), Op())
    assert result.analysis == "op"
    assert result.scalar("v(b)") == pytest.approx(vin * r2 / (r1 + r2), rel=1e-9)
    # ngspice's sign convention: current into the + terminal of the source.
    assert result.scalar("i(v1)") == pytest.approx(-vin / (r1 + r2), rel=1e-9)


@pytest.mark.parametrize("r, c", [(1e3, 1e-6), (1e4, 1e-9)])
def test_rc_step_matches_analytic(engine, r, c):
    tau = r * c
    result = engine.run(rc(r, c), Tran(tau / 200, 5 * tau, max_step=tau / 200))
    t, v = result.time, result["v(out)"]
    expected = 1 - np.exp(-np.clip(t - 1e-9, 0, None) / tau)
    assert t[-1] == pytest.approx(5 * tau, rel=1e-6)
    assert np.max(np.abs(v - expected)) < 2e-3
    assert v[-1] == pytest.approx(1 - np.exp(-5), abs=1e-3)


def test_dc_sweep_names_and_values(engine):
    circuit = divider().with_elements(VoltageSource("V2", ("x", "0")), Resistor("R3", ("x", "0"), 1e3))
    result = engine.run(circuit, DcSweep("V2", -1.0, 1.0, 0.5))
    assert result.analysis == "dc"
    np.testing.assert_allclose(result.sweep, [-1, -0.5, 0, 0.5, 1], atol=1e-12)
    np.testing.assert_allclose(result["i(v2)"], -result.sweep / 1e3, rtol=1e-9)


def test_golden_writer_netlist_parses_and_runs(engine):
    from test_netlist import sample_circuit  # pytest puts tests/ on the path (no package)

    result = engine.run(sample_circuit(), Op())
    assert {"v(in)", "v(out)", "v(xc1.mid)"} <= set(result)


def test_shared_engine_survives_gmin_stepping_notes(shared_engine):
    """PySpice 1.5 raises on any stderr line; ngspice prints notes there during gmin stepping."""
    circuit = Circuit(
        "diodes needing gmin stepping",
        elements=(VoltageSource("V1", ("a", "0"), dc=5.0), Resistor("R0", ("a", "b"), 100.0),
                  ModelInstance("D1", ("b", "c"), model="dd"), ModelInstance("D2", ("c", "0"), model="dd")),
        models=(Model("dd", "d", (("is", 1e-14),)),),
        options=(("noopiter", 1),),  # skip plain Newton so that gmin stepping must run
    )
    result = shared_engine.run(circuit, Op())
    assert "gmin stepping" in result.log.lower()
    # Two identical diodes share the voltage; KCL through R0 closes the loop.
    vb, vc = result.scalar("v(b)"), result.scalar("v(c)")
    assert vc == pytest.approx(vb / 2, rel=1e-6)
    assert (5.0 - vb) / 100.0 == pytest.approx(-result.scalar("i(v1)"), rel=1e-9)


def test_shared_engine_alters_without_reparsing(shared_engine):
    shared_engine.load(divider())
    loaded = shared_engine._loaded_text
    values = []
    for vin in (0.5, 1.0, 2.0):
        shared_engine.alter("V1", dc=vin)
        values.append(shared_engine.rerun(Op()).scalar("v(b)"))
    assert shared_engine._loaded_text is loaded
    np.testing.assert_allclose(values, [0.375, 0.75, 1.5], rtol=1e-9)
    with pytest.raises(NetlistError):
        shared_engine.command("shell rm -rf /")


def external_divider(r1: float = 1e3, r2: float = 3e3) -> Circuit:
    """A divider driven by an external source, plus the index source a DC sweep steps."""
    return Circuit("external divider", elements=(
        VoltageSource("Vin", ("a", "0"), wave=External()), Resistor("R1", ("a", "b"), r1),
        Resistor("R2", ("b", "0"), r2), VoltageSource("Vidx", ("idx", "0"))))


def counting_loads(engine, monkeypatch) -> list:
    """Record every message the engine sends its worker to parse a netlist."""
    loads, call = [], engine._call

    def spy(message, **kwargs):
        if message[0] == "load":
            loads.append(message)
        return call(message, **kwargs)

    monkeypatch.setattr(engine, "_call", spy)
    return loads


def test_external_source_takes_one_value_per_sweep_point_without_reparsing(shared_engine, monkeypatch):
    circuit = external_divider()
    loads = counting_loads(shared_engine, monkeypatch)
    for values in ([0.1, -0.3, 0.7, 0.2, 0.5], [2.0, -1.0, 0.0], [0.25]):
        n = len(values)
        result = shared_engine.run(circuit, DcSweep("Vidx", 0, n - 1, 1), sources={"Vin": values})
        np.testing.assert_allclose(result["v(b)"], np.array(values) * 3 / 4, rtol=1e-9, atol=1e-15)
        np.testing.assert_allclose(result["i(vin)"], -np.array(values) / 4e3, rtol=1e-9, atol=1e-18)
    assert len(loads) == 1  # the circuit was parsed for the first batch only
    assert shared_engine.run(circuit, Op(), sources={"vin": [1.2]}).scalar("v(b)") == pytest.approx(0.9, rel=1e-9)


def follow_divider(sweep, first: float, points: int, *, kill_after: int | None = None) -> list[float]:
    """Drive the external divider with v_in(k+1) = 1 + v(b)(k) / 2 through a followed sweep;
    ``kill_after``: SIGKILL the worker after that many points (a crash between two points)."""
    seen = []
    for k in range(points):
        b, i_in = sweep.point()
        assert i_in == pytest.approx(-b / 3e3, rel=1e-9)
        seen.append(b)
        if kill_after == k + 1:
            os.kill(sweep.engine._proc.pid, signal.SIGKILL)
            sweep.engine._proc.wait(timeout=10)
        if k + 1 < points:
            sweep.feed([1.0 + b / 2])
    return seen


def expected_follow(first: float, points: int) -> list[float]:
    v, out = first, []
    for _ in range(points):
        out.append(0.75 * v)
        v = 1.0 + out[-1] / 2
    return out


def test_feedback_sweep_feeds_each_point_from_the_last(shared_engine, monkeypatch):
    circuit = external_divider()
    loads = counting_loads(shared_engine, monkeypatch)
    with shared_engine.feedback_sweep(circuit, DcSweep("Vidx", 0, 5, 1), ["v(b)", "i(vin)"], [0.2]) as sweep:
        seen = follow_divider(sweep, 0.2, 6)
    np.testing.assert_allclose(seen, expected_follow(0.2, 6), rtol=1e-12)
    assert len(loads) <= 1  # parsed at most once (the shared engine may hold it already), not per point
    # the worker is free again: an ordinary run on the same circuit
    assert shared_engine.run(circuit, Op(), sources={"vin": [1.2]}).scalar("v(b)") == pytest.approx(0.9, rel=1e-9)


def test_feedback_sweep_goes_on_after_the_worker_dies_between_points():
    with SharedEngine(timeout=60) as eng:
        with eng.feedback_sweep(external_divider(), DcSweep("Vidx", 0, 6, 1), ["v(b)", "i(vin)"], [0.2]) as sweep:
            seen = follow_divider(sweep, 0.2, 7, kill_after=3)
        np.testing.assert_allclose(seen, expected_follow(0.2, 7), rtol=1e-12)
        assert eng.restarts == 1


def test_feedback_sweep_left_early_frees_the_engine():
    with SharedEngine(timeout=60) as eng:
        with eng.feedback_sweep(external_divider(), DcSweep("Vidx", 0, 4, 1), ["v(b)", "i(vin)"], [0.2]) as sweep:
            sweep.point()
            waiting = eng._proc
        assert waiting.wait(timeout=10) is not None  # the worker waiting inside ngspice is gone
        assert eng.run(external_divider(), Op(), sources={"vin": [1.2]}).scalar("v(b)") == pytest.approx(0.9)


def test_feedback_sweep_ends_within_the_engine_timeout_as_one_call():
    """The time limit covers the whole sweep, the caller's work between points included (as a
    transient's covers all its steps), and the engine works again afterwards."""
    with SharedEngine(timeout=1.0) as eng:  # 19 points x 0.2 s: only the whole sweep exceeds 1 s
        with pytest.raises(SimulationTimeout), \
                eng.feedback_sweep(external_divider(), DcSweep("Vidx", 0, 19, 1), ["v(b)", "i(vin)"], [0.2]) as sweep:
            for _ in range(19):
                sweep.point()
                time.sleep(0.2)
                sweep.feed([0.5])
        assert eng.run(external_divider(), Op(), sources={"vin": [1.2]}).scalar("v(b)") == pytest.approx(0.9)


def test_feedback_sweep_errors(shared_engine):
    # x = x + k has no solution for k != 0: the first point fails to converge and says so
    circuit = Circuit("no fixed point", elements=(
        VoltageSource("Vk", ("k", "0"), wave=External()), VoltageSource("Vidx", ("idx", "0")),
        BehavioralSource("B1", ("x", "0"), "V", Expr("V(x) + V(k)")), Resistor("R1", ("x", "0"), 1e3)))
    with shared_engine.feedback_sweep(circuit, DcSweep("Vidx", 0, 2, 1), ["v(x)"], [1.0]) as sweep, \
            pytest.raises(ConvergenceError, match="point 0 of a followed sweep"):
        sweep.point()
    with pytest.raises(NetlistError, match="1 finite source values"):
        shared_engine.feedback_sweep(circuit, DcSweep("Vidx", 0, 2, 1), ["v(x)"], [0.5, 0.1])
    with pytest.raises(SimulationError, match="no vector"), \
            shared_engine.feedback_sweep(external_divider(), DcSweep("Vidx", 0, 2, 1), ["v(nowhere)"], [0.5]) as sweep:
        sweep.point()


def test_external_source_values_must_match_the_circuit(shared_engine):
    circuit = external_divider()
    with pytest.raises(NetlistError, match="missing"):
        shared_engine.run(circuit, Op())
    with pytest.raises(NetlistError, match="no such external source"):
        shared_engine.run(circuit, Op(), sources={"Vin": [1.0], "V9": [1.0]})
    with pytest.raises(NetlistError, match="finite"):
        shared_engine.run(circuit, Op(), sources={"Vin": [np.nan]})
    with pytest.raises(NetlistError, match="external source"):
        shared_engine.run(divider(), Op(), sources={"Vin": [1.0]})
    with BatchEngine() as batch, pytest.raises(NetlistError, match="shared engine"):
        batch.run(circuit, Op())
    with pytest.raises(NetlistError, match="no DC value"):
        VoltageSource("Vx", ("a", "0"), dc=1.0, wave=External())


def test_run_after_alter_runs_the_circuit_as_written(shared_engine):
    circuit = divider(vin=1.0)
    assert shared_engine.run(circuit, Op()).scalar("v(b)") == pytest.approx(0.75, rel=1e-9)
    shared_engine.alter("V1", dc=2.0)
    assert shared_engine.rerun(Op()).scalar("v(b)") == pytest.approx(1.5, rel=1e-9)
    assert shared_engine.run(circuit, Op()).scalar("v(b)") == pytest.approx(0.75, rel=1e-9)


def test_engines_set_ngspice_threads_themselves(monkeypatch):
    """ngspice takes its OpenMP thread count from its variable num_threads (Debian's spinit says
    8, and OMP_NUM_THREADS cannot override it): both engines set it, from ``threads=`` or else
    the environment, and ngspice reports the value the engine set."""
    from memcircuit.errors import ConfigError

    def batch_deck(**kw) -> str:
        with BatchEngine(keep_dir=True, **kw) as eng:
            eng.run(rc(), Tran(1e-6, 1e-5))
            return (eng.last_run_dir / "circuit.cir").read_text()

    def shared_setting(**kw) -> str:
        with SharedEngine(**kw) as eng:
            eng.load(divider())
            return eng.command("set")

    assert "set num_threads=1\ntran" in batch_deck()
    assert "num_threads\t1" in shared_setting()
    monkeypatch.setenv("MEMCIRCUIT_NGSPICE_THREADS", "2")
    assert "set num_threads=2\n" in batch_deck()
    assert "num_threads\t2" in shared_setting()
    assert "set num_threads=3\n" in batch_deck(threads=3)
    assert "num_threads\t3" in shared_setting(threads=3)
    for bad in ("0", "many", "1.5"):
        monkeypatch.setenv("MEMCIRCUIT_NGSPICE_THREADS", bad)
        with pytest.raises(ConfigError, match="MEMCIRCUIT_NGSPICE_THREADS"):
            SharedEngine()
        with pytest.raises(ConfigError, match="MEMCIRCUIT_NGSPICE_THREADS"):
            BatchEngine()


def test_solver_stats_count_newton_iterations_of_a_sweep(shared_engine):
    """ngspice's counters: a linear network still takes two Newton iterations per sweep point
    (it never accepts a point after one), each with one refactorisation of the matrix."""
    circuit = external_divider()
    shared_engine.load(circuit)
    before = shared_engine.solver_stats()
    n = 40
    shared_engine.run(circuit, DcSweep("Vidx", 0, n - 1, 1), sources={"Vin": np.linspace(-1, 1, n)})
    stats = shared_engine.solver_stats() - before
    assert stats.equations == 6  # ground, nodes a, b, idx and the branch currents of Vin and Vidx
    assert 2 * n <= stats.iterations <= 2 * n + 2
    assert stats.factor_s >= 0 and stats.analysis_s > 0
    assert stats.factor_ms_per_iteration == pytest.approx(1e3 * stats.factor_s / stats.iterations)


SLOW = Circuit("slow", elements=(VoltageSource("V1", ("a", "0"), wave=Pulse(0, 1, 0, 1e-12, 1e-12, 1e-9, 2e-9)),
                                 Resistor("R1", ("a", "b"), 1e3), Capacitor("C1", ("b", "0"), 1e-12)))


def test_shared_engine_retries_a_crash_once_and_fails_on_the_second():
    with SharedEngine(timeout=60, remedies=False) as eng:
        assert eng.run(divider(), Op()).scalar("v(b)") == pytest.approx(0.75)
        first = eng.worker_pid
        crashed: list[int] = []
        done = threading.Event()

        def crash_each_worker() -> None:
            """What a crash inside libngspice looks like, 0.5 s into each worker's long transient:
            the worker's, then that of the worker restarted to retry the call."""
            while not done.is_set() and len(crashed) < 2:
                proc = eng._proc
                if proc is not None and proc.pid not in crashed and not done.wait(0.5):
                    os.kill(proc.pid, signal.SIGSEGV)
                    crashed.append(proc.pid)
                time.sleep(0.01)

        killer = threading.Thread(target=crash_each_worker)
        killer.start()
        try:
            with pytest.raises(SimulationError, match="died twice"):
                eng.run(SLOW, Tran(1e-12, 1.0, max_step=1e-12))
        finally:
            done.set()
            killer.join()
        assert crashed[0] == first and len(crashed) == 2
        assert eng.run(divider(), Op()).scalar("v(b)") == pytest.approx(0.75)
        assert eng.restarts >= 2 and eng.worker_pid not in crashed


def test_shared_engine_restores_altered_values_after_a_crash(monkeypatch):
    monkeypatch.setenv(DIES_AT_ENV, "2")  # the first worker dies on its second run
    with SharedEngine(timeout=60) as eng:
        eng.load(divider())
        eng.alter("V1", dc=2.0)
        assert eng.rerun(Op()).scalar("v(b)") == pytest.approx(1.5)
        eng.alter("R2", resistance=1e3)
        assert eng.rerun(Op()).scalar("v(b)") == pytest.approx(1.0)  # after the restart, both changes hold
        assert eng.restarts == 1


def test_a_call_interrupted_midway_does_not_answer_the_next_one():
    with SharedEngine(timeout=60, remedies=False) as eng:
        eng.run(divider(), Op())
        interrupt = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))  # Ctrl-C mid-transient
        interrupt.start()
        try:
            with pytest.raises(KeyboardInterrupt):
                eng.run(SLOW, Tran(1e-12, 1.0, max_step=1e-12))
        finally:
            interrupt.cancel()
        eng.timeout = 20  # the worker must not still be busy with the abandoned transient
        assert eng.run(divider(), Op()).scalar("v(b)") == pytest.approx(0.75)


def test_shared_engine_restarts_a_worker_that_died_between_runs():
    with SharedEngine(timeout=60) as eng:
        assert eng.run(divider(), Op()).scalar("v(b)") == pytest.approx(0.75)
        os.kill(eng.worker_pid, signal.SIGKILL)
        eng._proc.wait(timeout=10)
        assert eng.run(divider(), Op()).scalar("v(b)") == pytest.approx(0.75)
        assert eng.restarts == 1


NON_CONVERGING = Circuit("no solution", elements=(
    BehavioralSource("B1", ("a", "0"), "V", Expr("V(a) + 1")), Resistor("R1", ("a", "0"), 1e3)))


@pytest.mark.parametrize("name", ENGINES)
def test_non_converging_netlist_raises_convergence_error(name):
    with pytest.raises(ConvergenceError) as info:
        run(NON_CONVERGING, Op(), engine=name, timeout=60)
    err = info.value
    assert len(err.remedies) >= 3
    assert any("gmin" in r for r in err.remedies)
    assert "V(a) + 1" in err.netlist


def test_batch_timeout_kills_ngspice():
    slow = Circuit("slow", elements=(VoltageSource("V1", ("a", "0"), wave=Pulse(0, 1, 0, 1e-12, 1e-12, 1e-9, 2e-9)),
                                     Resistor("R1", ("a", "b"), 1e3), Capacitor("C1", ("b", "0"), 1e-12)))
    with pytest.raises(SimulationTimeout):
        BatchEngine(timeout=0.5, remedies=False).run(slow, Tran(1e-12, 1.0, max_step=1e-12))


def test_batch_timeout_bounds_the_whole_call_with_its_remedies(monkeypatch):
    """Every attempt runs in real ngspice for about a second and is then called non-converged:
    with a limit per attempt the remedies (the smaller steps take longer) ran for 5 s or more.
    (The shared engine classifies in its worker; its attempts get the same deadline.)"""
    import time

    from memcircuit.spice import batch

    monkeypatch.setattr(batch, "classify", lambda output: ("convergence", "timestep too small (test)"))
    limit = 2.0
    start = time.monotonic()
    with pytest.raises(SimulationTimeout):
        BatchEngine(timeout=limit).run(rc(), Tran(3e-6, 0.1, max_step=3e-6))
    assert time.monotonic() - start < limit + 1.0


def test_shared_timeout_restarts_worker():
    with SharedEngine(timeout=1.0, remedies=False) as eng:
        with pytest.raises(SimulationTimeout):
            eng.run(SLOW, Tran(1e-12, 1.0, max_step=1e-12))
        eng.timeout = 60
        assert eng.run(divider(), Op()).scalar("v(b)") == pytest.approx(0.75)


def test_batch_error_keeps_run_dir_with_netlist_and_log():
    bad = Circuit("bad", elements=(ModelInstance("D1", ("a", "0"), model="nosuchmodel"),
                                   VoltageSource("V1", ("a", "0"), dc=1.0)))
    with pytest.raises(SimulationError) as info:
        BatchEngine().run(bad, Op())
    err = info.value
    assert not isinstance(err, ConvergenceError)
    assert err.run_dir is not None and (err.run_dir / "circuit.cir").is_file()
    assert (err.run_dir / "ngspice.log").is_file()
    assert "nosuchmodel" in err.netlist
    assert err.output_tail


def test_user_netlist_with_shell_or_control_is_refused(tmp_path):
    for body in ("shell rm -rf ~", ".control\nrun\n.endc", "  .CONTROL", ".exec\nshell ls\n.endc"):
        path = tmp_path / "evil.cir"
        path.write_text(f"evil\nV1 a 0 1\nR1 a 0 1k\n{body}\n.op\n.end\n")
        with pytest.raises(NetlistError, match="allow-control"):
            UserNetlist.from_file(path)
    trusted = UserNetlist.from_file(path, allow_control=True)
    assert trusted.has_control


def test_a_line_ngspice_drops_is_an_error_not_a_smaller_circuit(engine, tmp_path):
    """ngspice 46 warns that 'R2 b 0' (no value) is not a valid resistor line, ignores it, solves
    what remains (v(b) = 1 V instead of a divider) and exits 0."""
    path = tmp_path / "bad.cir"
    path.write_text("bad\nV1 a 0 1\nR1 a b 1k\nR2 b 0\n.op\n.end\n")
    with pytest.raises(SimulationError, match="not a valid resistor instance line"):
        engine.run(UserNetlist.from_file(path))


def test_user_netlist_runs_its_own_analysis(engine, tmp_path):
    path = tmp_path / "rc.cir"
    path.write_text("RC\nV1 in 0 PULSE(0 1 0 1n 1n 1 2)\nR1 in out 1k\nC1 out 0 1u\n.tran 10u 5m\n.end\n")
    result = engine.run(UserNetlist.from_file(path))
    assert result.analysis == "tran"
    assert result["v(out)"][-1] == pytest.approx(1 - np.exp(-5), abs=2e-3)


@pytest.mark.osdi
def test_osdi_module_compiles_caches_and_runs(engine, tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setenv("MEMCIRCUIT_CACHE", str(tmp_path / "cache"))
    va = tmp_path / "vres.va"
    va.write_text('`include "disciplines.vams"\nmodule vres(p, n);\n inout p, n; electrical p, n;\n'
                  " parameter real r = 1e3 from (0:inf);\n analog I(p, n) <+ V(p, n) / r;\nendmodule\n")
    with monkeypatch.context() as patch:  # built beside the cache, not in the system's temporary folder
        patch.setattr(tempfile, "tempdir", str(tmp_path / "no-such-folder"))
        module = compile_va(va)
    assert compile_va(va) == module  # cached by source hash
    circuit = Circuit("osdi", elements=(VoltageSource("V1", ("a", "0"), dc=1.0),
                                        ModelInstance("N1", ("a", "0"), model="rv")),
                      models=(Model("rv", "vres", (("r", 2e3),)),), osdi=(str(module),))
    assert engine.run(circuit, Op()).scalar("i(v1)") == pytest.approx(-5e-4, rel=1e-9)
    va.write_text(va.read_text().replace("/ r;", "/ (2 * r);"))
    assert compile_va(va) != module  # an edited model is recompiled


def test_missing_compiler_is_a_clear_error(tmp_path, monkeypatch):
    from memcircuit.errors import ModelCompileError

    monkeypatch.setenv("MEMCIRCUIT_OPENVAF", str(tmp_path / "none"))
    va = tmp_path / "x.va"
    va.write_text("module x; endmodule\n")
    with pytest.raises(ModelCompileError, match="veriloga"):
        compile_va(va)


@pytest.mark.parametrize("text, kind", [
    ("Note: Starting dynamic gmin stepping\nNote: Dynamic gmin stepping completed", None),
    ("Warning: singular matrix:  check node n1\nWarning: Dynamic gmin stepping failed\n"
     "Note: Transient op finished successfully", None),
    ("doAnalyses: TRAN:  Timestep too small; time = 1e-6", "convergence"),
    ("Error: unknown subckt: x1 a b foo", "error"),
    ("Using KLU as Direct Linear Solver\nNo. of Data Rows : 1", None),
    ("Warning: 'r2 b 0' is not a valid resistor instance line, ignored!", "error"),
])
def test_output_classification(text, kind):
    found = classify(text)
    assert (found[0] if found else None) == kind


def test_plain_pyspice_would_fail_on_the_same_notes():
    """Documents the PySpice 1.5 behaviour our QuietNgSpice fixes (run in a child: one libngspice
    per process)."""
    import subprocess
    import sys

    code = (
        "import logging; logging.disable(logging.CRITICAL)\n"
        "from PySpice.Spice.NgSpice.Shared import NgSpiceShared, NgSpiceCommandError\n"
        "ng = NgSpiceShared.new_instance()\n"
        "ng.load_circuit('t\\nV1 a 0 5\\nR0 a b 100\\nD1 b c dd\\nD2 c 0 dd\\n.model dd d is=1e-14\\n"
        ".options klu noopiter=1\\n.end\\n')\n"
        "try:\n    ng.exec_command('op'); print('no error')\n"
        "except NgSpiceCommandError:\n    print('raised')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip().splitlines()[-1] == "raised"
