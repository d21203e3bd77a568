"""The CLI as a user meets it: doctor, simulate, plot waveform, and one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from memcircuit.cli import cli

RC = "RC low-pass\nV1 in 0 PULSE(0 1 0 1n 1n 1 2)\nR1 in out 1k\nC1 out 0 1u\n.tran 10u 5m\n.end\n"
DIVIDER = "divider\nV1 a 0 2\nR1 a b 1k\nR2 b 0 3k\n.op\n.end\n"


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def memcircuit(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run the real console entry point in a subprocess (exit codes, stderr as a user sees);
    ``env`` adds environment variables."""
    return subprocess.run([sys.executable, "-c", "from memcircuit.cli import main; main()", *args],
                          capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})})


@pytest.mark.ngspice
def test_doctor_json_reports_a_working_stack():
    proc = memcircuit("doctor", "--json")
    info = json.loads(proc.stdout)
    assert proc.returncode == 0, info["problems"]
    assert info["klu"] is True and info["osdi"] is True
    assert int(info["ngspice_version"].split(".")[0]) >= 42
    assert info["shared_engine"] is True
    assert info["pyspice_version"] == "1.5"
    assert info["ngspice_threads"] == 1  # whatever the package's spinit asks for


@pytest.mark.ngspice
def test_simulate_divider_json_matches_analytic(tmp_path):
    net = tmp_path / "div.cir"
    net.write_text(DIVIDER)
    result = invoke("simulate", str(net), "--op", "--json", "-")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["analysis"] == "op"
    assert data["vectors"]["v(b)"][0] == pytest.approx(1.5, rel=1e-9)
    assert data["vectors"]["i(v1)"][0] == pytest.approx(-0.5e-3, rel=1e-9)


@pytest.mark.ngspice
def test_simulate_refuses_a_netlist_line_ngspice_would_drop(tmp_path):
    net = tmp_path / "bad.cir"
    net.write_text(DIVIDER.replace("R2 b 0 3k", "R2 b 0"))
    proc = memcircuit("simulate", str(net))
    assert proc.returncode == 2
    assert "not a valid resistor instance line" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and proc.stdout == ""


@pytest.mark.ngspice
@pytest.mark.parametrize("engine", ["batch", "shared"])
def test_simulate_rc_tran_raw_and_plots(tmp_path, engine):
    net = tmp_path / "rc.cir"
    net.write_text(RC)
    out_json, png = tmp_path / "rc.json", tmp_path / "rc.png"
    args = ["simulate", str(net), "--tran", "10u", "5m", "--json", str(out_json), "--plot", str(png),
            "--signals", "v(in),v(out),i(v1)", "--engine", engine]
    if engine == "batch":
        args += ["--raw", str(tmp_path / "rc.raw")]
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    data = json.loads(out_json.read_text())
    t = np.array(data["vectors"]["time"])
    v = np.array(data["vectors"]["v(out)"])
    assert np.max(np.abs(v - (1 - np.exp(-np.clip(t - 1e-9, 0, None) / 1e-3)))) < 2e-3
    assert png.stat().st_size > 10_000
    if engine == "batch":
        plot2 = tmp_path / "again.png"
        again = invoke("plot", "waveform", str(tmp_path / "rc.raw"), "--signals", "v(out)", "-o", str(plot2))
        assert again.exit_code == 0, again.output
        assert plot2.stat().st_size > 10_000


@pytest.mark.parametrize("args, fragment", [
    (["simulate", "/no/such/file.cir", "--op"], "not found"),
    (["simulate", "NET", "--tran", "1x", "5m"], "not a number"),
    (["simulate", "NET", "--tran", "-1u", "5m"], "must be > 0"),
    (["simulate", "NET", "--op", "--tran", "1u", "1m"], "choose one"),
    (["simulate", "NET", "--tran", "1u", "1m", "--plot", "x.png", "--signals", "v(nosuch)"], "no vector"),
    (["simulate", "NET", "--op", "--plot", "x.png"], "no waveform"),
    (["simulate", "EVIL", "--op"], "allow-control"),
    (["simulate", "GARBAGE", "--op"], "ngspice"),
    (["plot", "waveform", "NET", "--signals", "v(a)", "-o", "x.png"], "raw"),
    (["plot", "conductance", "EMPTY", "-o", "x.png"], "not a .npy array"),  # not "aborted"
    (["tile", "read", "--rows", "2", "--cols", "2", "--conductances", "EMPTY", "--inputs", "EMPTY",
      "--r-wire", "1"], "not a .npy array"),
    (["simulate", "NET", "--op"], "MEMCIRCUIT_NGSPICE_THREADS"),  # with the variable set to 0 below
])
def test_bad_input_exits_2_with_one_line(tmp_path, args, fragment):
    net = tmp_path / "net.cir"
    net.write_text(DIVIDER)
    evil = tmp_path / "evil.cir"
    evil.write_text("evil\nV1 a 0 1\nR1 a 0 1k\nshell touch /tmp/pwned\n.op\n.end\n")
    garbage = tmp_path / "garbage.cir"
    garbage.write_text("garbage\nV1 a 0 1\nQ7 a b c nosuchmodel\n.op\n.end\n")
    empty = tmp_path / "empty.npy"
    empty.write_bytes(b"")
    subst = {"NET": str(net), "EVIL": str(evil), "GARBAGE": str(garbage), "EMPTY": str(empty),
             "x.png": str(tmp_path / "x.png")}
    env = {"MEMCIRCUIT_NGSPICE_THREADS": "0"} if fragment == "MEMCIRCUIT_NGSPICE_THREADS" else {}
    proc = memcircuit(*[subst.get(a, a) for a in args], env=env)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip() and "Unsupported Ngspice" not in ln]
    assert "Traceback" not in proc.stderr
    assert any(fragment.lower() in ln.lower() for ln in lines), proc.stderr
    assert len([ln for ln in lines if ln.startswith(("error", "Error"))]) == 1


def test_debug_flag_shows_traceback(tmp_path):
    proc = memcircuit("--debug", "simulate", str(tmp_path / "missing.cir"), "--op")
    assert proc.returncode != 0
    assert "Traceback" in proc.stderr


def test_help_teaches():
    for command in (["--help"], ["simulate", "--help"], ["doctor", "--help"], ["plot", "waveform", "--help"]):
        result = invoke(*command)
        assert result.exit_code == 0
        assert "Usage:" in result.output
    assert "Example" in invoke("simulate", "--help").output
