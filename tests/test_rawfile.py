"""The raw-file reader against ngspice itself: binary and ascii files of the same circuit agree,
match analytic values, read in linear time and memory, and a damaged file is a clear error."""

from __future__ import annotations

import subprocess
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from memcircuit.errors import SimulationError, SimulationTimeout
from memcircuit.netlist import Capacitor, Circuit, Op, Resistor, VoltageSource
from memcircuit.spice import BatchEngine
from memcircuit.spice.batch import ngspice_executable
from memcircuit.spice.rawfile import read_plots, read_raw

pytestmark = pytest.mark.ngspice

R, C = 1e3, 1e-6  # the RC low-pass: tau = 1 ms
ANALYSES = {
    "op": "op",
    "tran": "tran 10u 5m 0 10u",
    "dc": "dc V1 -1 1 0.25",
    "ac": "ac dec 10 1 100k",
}


def write_raw_files(tmp_path: Path, analysis: str, body: str | None = None,
                    card: str | None = None) -> tuple[Path, Path]:
    """Run ``analysis`` (a key of ANALYSES, or ``card``) in ``ngspice -b`` and write its plot as a
    binary and an ascii raw file."""
    binary, ascii_ = tmp_path / f"{analysis}.bin.raw", tmp_path / f"{analysis}.ascii.raw"
    body = body or (f"V1 in 0 DC 1 AC 1 PULSE(0 1 0 1n 1n 1 2)\nR1 in out {R:g}\nC1 out 0 {C:g}\n"
                    "R2 in mid 1k\nR3 mid 0 3k\n")
    text = (f"raw {analysis}\n{body}.options klu\n.control\nset num_threads=1\n{card or ANALYSES[analysis]}\n"
            f"set filetype=binary\nwrite {binary} all\nset filetype=ascii\nwrite {ascii_} all\nquit\n.endc\n.end\n")
    (tmp_path / f"{analysis}.cir").write_text(text)
    subprocess.run([ngspice_executable(), "-b", f"{analysis}.cir"], cwd=tmp_path, capture_output=True,
                   timeout=120, check=True, stdin=subprocess.DEVNULL)
    return binary, ascii_


@pytest.mark.parametrize("analysis", list(ANALYSES))
def test_binary_and_ascii_files_of_one_run_agree(tmp_path, analysis):
    binary, ascii_ = write_raw_files(tmp_path, analysis)
    (b,), (a,) = read_plots(binary), read_plots(ascii_)
    assert b.names == a.names and b.types == a.types and b.kind == a.kind == analysis
    assert b.data.shape == a.data.shape == (b.declared_points, len(b.names))
    assert b.is_complex == a.is_complex == (analysis == "ac")
    assert b.data.dtype == (np.complex128 if analysis == "ac" else np.float64)
    np.testing.assert_allclose(a.data, b.data, rtol=1e-14, atol=1e-300)  # ascii prints 16 digits
    assert b.title == f"raw {analysis}"


def test_operating_point_is_the_divider(tmp_path):
    kind, vec = read_raw(write_raw_files(tmp_path, "op")[0])
    assert kind == "op"
    assert vec["v(mid)"] == pytest.approx([0.75], rel=1e-12)
    assert vec["v(out)"] == pytest.approx([1.0], rel=1e-12)  # the capacitor is open at DC
    assert vec["i(v1)"] == pytest.approx([-1 / 4e3], rel=1e-9)


def test_transient_is_the_rc_step(tmp_path):
    for path in write_raw_files(tmp_path, "tran"):
        kind, vec = read_raw(path)
        t, v = vec["time"], vec["v(out)"]
        assert kind == "tran" and t[0] == 0 and t[-1] == pytest.approx(5e-3, rel=1e-9)
        assert np.max(np.abs(v - (1 - np.exp(-np.clip(t - 1e-9, 0, None) / (R * C))))) < 2e-3


def test_ac_is_the_rc_transfer_function(tmp_path):
    for path in write_raw_files(tmp_path, "ac"):
        kind, vec = read_raw(path)
        f = vec["frequency"].real
        assert kind == "ac" and f[0] == pytest.approx(1.0) and f[-1] == pytest.approx(1e5)
        np.testing.assert_allclose(vec["v(out)"], 1 / (1 + 2j * np.pi * f * R * C), rtol=1e-9)


def test_dc_sweep_values(tmp_path):
    for path in write_raw_files(tmp_path, "dc"):
        kind, vec = read_raw(path)
        np.testing.assert_allclose(vec["v(v-sweep)"], np.arange(-1, 1.01, 0.25), atol=1e-12)
        np.testing.assert_allclose(vec["v(mid)"], 0.75 * vec["v(v-sweep)"], rtol=1e-9, atol=1e-15)


def header_end(data: bytes) -> int:
    return data.index(b"Binary:\n") + len(b"Binary:\n")


@pytest.mark.parametrize("cut", ["header", "variables", "mid-row", "whole-rows", "values"])
def test_a_truncated_file_is_a_clear_error(tmp_path, cut):
    binary, ascii_ = write_raw_files(tmp_path, "tran")
    data, text = binary.read_bytes(), ascii_.read_bytes()
    row = len(read_plots(binary)[0].names) * 8
    damaged = {
        "header": data[:40],
        "variables": data[:data.index(b"Variables:\n") + 20],
        "mid-row": data[:header_end(data) + 10 * row + 3],
        "whole-rows": data[:header_end(data) + 10 * row],
        "values": text[:len(text) // 2],
    }[cut]
    path = tmp_path / "cut.raw"
    path.write_bytes(damaged)
    with pytest.raises(SimulationError, match="truncated"):
        read_plots(path)


@pytest.mark.parametrize("missing", [7, "all"])
def test_rows_beyond_no_points_are_read(tmp_path, missing):
    """ngspice 46 can write more rows than its header declares: the data decide."""
    for path in write_raw_files(tmp_path, "tran"):
        full = read_plots(path)[0]
        data = path.read_bytes()
        declared = f"No. Points: {full.declared_points}".encode()
        claim = 0 if missing == "all" else full.declared_points - missing
        path.write_bytes(data.replace(declared, f"No. Points: {claim}".ljust(len(declared)).encode()))
        quirk = read_plots(path)[0]
        assert quirk.declared_points == claim
        np.testing.assert_array_equal(quirk.data, full.data)


def test_several_plots_in_one_file(tmp_path):
    op_bin, op_ascii = write_raw_files(tmp_path, "op")
    tran_bin, tran_ascii = write_raw_files(tmp_path, "tran")
    for first, second in ((op_bin, tran_bin), (tran_ascii, op_ascii), (tran_bin, op_ascii)):
        both = tmp_path / "both.raw"
        both.write_bytes(first.read_bytes() + second.read_bytes())
        plots = read_plots(both)
        assert [p.kind for p in plots] == [read_plots(first)[0].kind, read_plots(second)[0].kind]
        np.testing.assert_array_equal(plots[1].data, read_plots(second)[0].data)
        assert read_raw(both)[0] == plots[1].kind


def test_a_passed_deadline_stops_the_read(tmp_path):
    with pytest.raises(SimulationTimeout):
        read_plots(write_raw_files(tmp_path, "tran")[0], deadline=time.monotonic() - 1)


def ladder(n: int) -> str:
    """An RC ladder of ``n`` sections: ``n + 1`` node voltages."""
    lines = ["V1 n0 0 PULSE(0 1 0 1n 1n 1 2)"]
    lines += [f"R{i} n{i} n{i + 1} 10\nC{i} n{i + 1} 0 1n" for i in range(n)]
    return "\n".join(lines) + "\n"


def test_a_large_file_is_read_in_linear_time_and_memory(tmp_path):
    """A 2000-vector, 8 MB transient: spicelib's reader scanned the file once per vector."""
    binary, ascii_ = write_raw_files(tmp_path, "tran", body=ladder(2000), card="tran 1n 500n 0 1n")
    size = binary.stat().st_size
    assert size > 7e6
    tracemalloc.start()
    start = time.perf_counter()
    try:
        (plot,) = read_plots(binary)
        seconds = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert plot.data.shape[1] == 2003 and plot.data.shape[0] >= 500
    assert seconds < 2.0
    assert peak < 2.5 * size
    start = time.perf_counter()
    (text_plot,) = read_plots(ascii_)
    assert time.perf_counter() - start < 20.0
    np.testing.assert_allclose(text_plot.data, plot.data, rtol=1e-14, atol=1e-300)


def test_batch_engine_reads_thousands_of_vectors_within_its_timeout():
    """An operating point with 4000 node voltages: reading used to take far longer than ngspice,
    and outside the engine's time limit."""
    n = 4000
    elements = [VoltageSource("V1", ("n0", "0"), dc=1.0)]
    elements += [Resistor(f"R{i}", (f"n{i}", f"n{i + 1}"), 1.0) for i in range(n)]
    elements += [Capacitor("C1", (f"n{n}", "0"), 1e-12), Resistor("Rend", (f"n{n}", "0"), float(n))]
    start = time.perf_counter()
    result = BatchEngine(timeout=20, remedies=False).run(Circuit("ladder", elements=tuple(elements)), Op())
    assert time.perf_counter() - start < 20
    assert len(result) == n + 2
    assert result.scalar(f"v(n{n // 2})") == pytest.approx(1 - (n // 2) / (2 * n), rel=1e-9)


def test_errors_about_a_file_that_is_no_raw_file_do_not_quote_it(tmp_path):
    path = tmp_path / "notes.txt"
    for text in ("a secret sentence\nsecond line\n", "Title: x\nNo. Variables: 1\nNo. Points: 1\nVariables:\n"
                 "\t0\ttime\ttime\nsecret words\n"):
        path.write_text(text)
        with pytest.raises(SimulationError) as info:
            read_plots(path)
        assert "secret" not in str(info.value) and "notes.txt" in str(info.value)
