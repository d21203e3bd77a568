""".include and .lib in user netlists: resolved relative to the including file, inlined, and
never reaching outside the netlist's folder unless the user names the folder."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from memcircuit.errors import NetlistError
from memcircuit.spice import UserNetlist
from memcircuit.spice.batch import compose
from memcircuit.spice.jobs import spice_job
from memcircuit.spice.usernetlist import project_include_roots

DATA = Path(__file__).parent / "data" / "includes"
PASSWD_WORD = "root:x:0"  # the first line of /etc/passwd on every Linux system


def memcircuit(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """The real console entry point in a subprocess, with this checkout first on the path."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    return subprocess.run([sys.executable, "-c", "from memcircuit.cli import main; main()", *args],
                          capture_output=True, text=True, timeout=300, cwd=cwd, env=env)


def netlist(tmp_path: Path, *cards: str, name: str = "top.cir") -> Path:
    path = tmp_path / name
    path.write_text("test\nV1 a 0 1\n" + "\n".join(cards) + "\n.op\n.end\n")
    return path


@pytest.mark.parametrize("card", [
    ".include /etc/passwd",
    ".INCLUDE '/etc/passwd'",
    '.inc "/etc/passwd"',
    ".lib /etc/shadow tt",
    ".LIBRARY '/etc/shadow' tt",
    ".include ../outside.cir",
    ".include ~/.bashrc",
])
def test_a_file_outside_the_folder_is_refused_in_one_line(tmp_path, card):
    (tmp_path / "outside.cir").write_text("R9 a 0 1k\n")
    inner = tmp_path / "inner"
    inner.mkdir()
    path = netlist(inner, "R1 a 0 1k", card)
    with pytest.raises(NetlistError) as info:
        UserNetlist.from_file(path)
    message = str(info.value)
    assert message.startswith(f"{path}:4: refusing to read /")
    assert "--allow-include" in message and "\n" not in message
    assert PASSWD_WORD not in message and "R9" not in message


def test_a_symlink_out_of_the_folder_is_refused(tmp_path):
    inner = tmp_path / "inner"
    inner.mkdir()
    (tmp_path / "secret.cir").write_text("R9 a 0 1k\n")
    (inner / "models.cir").symlink_to(tmp_path / "secret.cir")
    with pytest.raises(NetlistError, match=rf"top.cir:3: refusing to read {tmp_path / 'secret.cir'}"):
        UserNetlist.from_file(netlist(inner, ".include models.cir"))


def test_allow_include_names_a_folder_and_only_that_folder(tmp_path):
    lib, other = tmp_path / "lib", tmp_path / "other"
    lib.mkdir()
    other.mkdir()
    (lib / "r.cir").write_text("R1 a b 1k\nR2 b 0 3k\n")
    (other / "r.cir").write_text("R1 a b 1k\n")
    inner = tmp_path / "inner"
    inner.mkdir()
    ok = UserNetlist.from_file(netlist(inner, f".include {lib / 'r.cir'}"), allow_include=[lib])
    assert ok.included == ((lib / "r.cir").resolve(),)
    assert "R2 b 0 3k" in ok.body and ".include" not in ok.body.replace("* .include", "")
    with pytest.raises(NetlistError, match="refusing"):
        UserNetlist.from_file(netlist(inner, f".include {other / 'r.cir'}"), allow_include=[lib])


def test_the_project_model_folders_are_allowed(tmp_path, monkeypatch):
    monkeypatch.setenv("MEMCIRCUIT_CACHE", str(tmp_path / "cache"))
    osdi = project_include_roots()[1]
    assert osdi == (tmp_path / "cache" / "osdi").resolve()
    (osdi / "models.inc").write_text("R1 a 0 1k\n")
    inner = tmp_path / "inner"
    inner.mkdir()
    assert UserNetlist.from_file(netlist(inner, f".include {osdi / 'models.inc'}")).included


def test_include_cycle_is_an_error(tmp_path):
    (tmp_path / "a.inc").write_text(".include b.inc\n")
    (tmp_path / "b.inc").write_text("R1 a 0 1k\n.include a.inc\n")
    with pytest.raises(NetlistError, match=r"b.inc:2: include cycle: .*a.inc -> .*b.inc -> .*a.inc"):
        UserNetlist.from_file(netlist(tmp_path, ".include a.inc"))


def test_missing_file_or_section_is_an_error_naming_the_card(tmp_path):
    with pytest.raises(NetlistError, match=r"top.cir:3: included file not found: .*nosuch.inc"):
        UserNetlist.from_file(netlist(tmp_path, ".include nosuch.inc"))
    shutil.copy(DATA / "models.lib", tmp_path)
    with pytest.raises(NetlistError, match=r"top.cir:3: no section 'ss' in .*models.lib"):
        UserNetlist.from_file(netlist(tmp_path, ".lib models.lib ss"))


def test_control_in_an_included_file_is_refused(tmp_path):
    (tmp_path / "evil.inc").write_text("R1 a 0 1k\n.control\nshell touch pwned\n.endc\n")
    with pytest.raises(NetlistError, match=r"evil.inc:2: refusing '.control'.*allow-control"):
        UserNetlist.from_file(netlist(tmp_path, ".include evil.inc"))
    assert UserNetlist.from_file(netlist(tmp_path, ".include evil.inc"), allow_control=True).has_control


@pytest.mark.ngspice
@pytest.mark.parametrize("engine", ["batch", "shared"])
def test_relative_includes_resolve_from_the_including_file(tmp_path, engine, monkeypatch):
    """top.cir includes sub/stage.inc, which includes divider.inc beside itself and a library
    section; a decoy divider.inc in the working folder (where ngspice would look first) is not
    used."""
    work = tmp_path / "project"
    shutil.copytree(DATA, work)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "divider.inc").write_text("R1 a b 1k\nR2 b 0 1k\n")
    monkeypatch.chdir(elsewhere)
    out = elsewhere / "out.json"
    proc = memcircuit("simulate", str(work / "top.cir"), "--engine", engine, "--json", str(out), cwd=elsewhere)
    assert proc.returncode == 0, proc.stderr
    vectors = json.loads(out.read_text())["vectors"]
    assert vectors["v(b)"][0] == pytest.approx(0.75, rel=1e-9)  # divider.inc beside stage.inc
    assert vectors["v(c)"][0] == pytest.approx(1 / 11, rel=1e-9)  # section ff of models.lib


@pytest.mark.ngspice
def test_cli_refuses_etc_passwd_in_one_line_without_its_content(tmp_path):
    path = netlist(tmp_path, "R1 a 0 1k", ".include /etc/passwd")
    proc = memcircuit("simulate", str(path))
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: {path}:4: refusing to read /etc/passwd: outside the netlist's folder " \
                                  "and the model folders (pass --allow-include DIR to trust a folder)"
    assert proc.stdout == ""


@pytest.mark.ngspice
@pytest.mark.parametrize("engine", ["batch", "shared"])
def test_an_allowed_file_that_ngspice_rejects_is_not_echoed(tmp_path, engine):
    """Allowed, /etc/passwd is inlined and ngspice rejects its lines; the error names the line."""
    path = netlist(tmp_path, "R1 a 0 1k", ".include /etc/passwd")
    proc = memcircuit("simulate", str(path), "--engine", engine, "--allow-include", "/etc")
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert "line /etc/passwd:" in lines[0] and "of an included file (its text is not shown)" in lines[0]
    assert PASSWD_WORD not in proc.stderr and "nologin" not in proc.stderr and "/bin/" not in proc.stderr


@pytest.mark.ngspice
def test_sweep_spice_job_resolves_includes_and_honours_allow_include(tmp_path):
    work = tmp_path / "project"
    shutil.copytree(DATA, work)
    params = {"netlist": str(work / "top.cir"), "analysis": "op", "measure": ["v(b)"]}
    assert spice_job(params, tmp_path) == {"v(b)": pytest.approx(0.75, rel=1e-9)}
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "r.inc").write_text("R1 a b 1k\nR2 b 0 1k\n")
    (work / "out.cir").write_text(f"out\nV1 a 0 1\n.include {outside / 'r.inc'}\n.op\n.end\n")
    params = {"netlist": str(work / "out.cir"), "analysis": "op", "measure": ["v(b)"]}
    with pytest.raises(NetlistError, match="refusing"):
        spice_job(params, tmp_path)
    assert spice_job({**params, "allow_include": [str(outside)]}, tmp_path) == {"v(b)": pytest.approx(0.5)}


@pytest.mark.ngspice
def test_cli_sweep_passes_allow_include_to_its_spice_jobs(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "r.inc").write_text("R1 a b 1k\nR2 b 0 3k\n")
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "net.cir").write_text("net\nV1 a 0 1\n.include ../outside/r.inc\n.op\n.end\n")
    spec = proj / "spec.yaml"
    spec.write_text("kind: spice\nbase: {netlist: net.cir, analysis: op, measure: ['v(b)']}\n"
                    "axes: {params.x: [1]}\ntimeout: 120\n")
    refused = memcircuit("sweep", str(spec), "--out", str(tmp_path / "a"), "--quiet", "--json", "-")
    assert refused.returncode == 1 and "refusing to read" in refused.stdout
    allowed = memcircuit("sweep", str(spec), "--out", str(tmp_path / "b"), "--quiet", "--json", "-",
                         "--allow-include", str(outside))
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    assert json.loads(allowed.stdout)["rows"][0]["v(b)"] == pytest.approx(0.75, rel=1e-9)


def test_sweep_spec_allow_include_is_relative_to_the_spec(tmp_path):
    from memcircuit.cli.sweep import JOB_KINDS
    from memcircuit.parallel import SweepSpec

    spec = SweepSpec.from_dict({"kind": "spice", "base": {"netlist": "n.cir", "allow_include": ["lib", "/abs"]},
                                "axes": {"a": [1]}}, kinds=JOB_KINDS, source_dir=tmp_path)
    assert spec.jobs()[0]["params"]["allow_include"] == [str(tmp_path / "lib"), "/abs"]


def test_help_documents_allow_include():
    for command in ("simulate", "sweep"):
        out = memcircuit(command, "--help").stdout
        assert "--allow-include DIR" in out and "--allow-include pdk" in out


def test_the_ptm_card_that_generated_netlists_include_is_allowed(tmp_path):
    """Generated transistor-level netlists include the PTM 45 nm card from where it is installed."""
    from memcircuit.circuits.transistor import ptm45_card

    try:
        card = ptm45_card()
    except Exception as exc:  # noqa: BLE001 - the ngspice examples are optional locally
        pytest.skip(str(exc))
    text = (Path(__file__).parents[1] / "netlists" / "tia_ptm45_2x2.cir").read_text()
    assert ".include" in text
    user = UserNetlist.from_text(re.sub(r'^\.include ".*"$', f'.include "{card}"', text, flags=re.M),
                                 folder=tmp_path)
    assert user.included == (card.resolve(),)


def test_engine_netlist_has_no_include_cards_left(tmp_path):
    """The text ngspice gets names no file: ngspice never opens a user file itself."""
    shutil.copytree(DATA, tmp_path / "p")
    user = UserNetlist.from_file(tmp_path / "p" / "top.cir")
    text = compose(user, None, ["quit"])
    cards = [ln.strip().lower() for ln in text.splitlines() if not ln.lstrip().startswith("*")]
    assert not [c for c in cards if c.startswith((".inc", ".lib"))]


@pytest.mark.ngspice
def test_a_model_file_parameter_is_confined_like_an_include(tmp_path):
    """XSPICE filesource opens its file= itself: outside the folder it is refused, inside it is made
    absolute (ngspice runs in its own run folder) and read."""
    secret = tmp_path / "elsewhere" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text("0 4.2\n1 4.2\n")
    run = tmp_path / "run"
    run.mkdir()
    (run / "wave.txt").write_text("0 1.5\n1 1.5\n")
    card = ".model src filesource (file={} amploffset=[0] amplscale=[1])"
    for name, path in (("outside.cir", f'"{secret}"'), ("inside.cir", "wave.txt")):
        (run / name).write_text("filesource\nA1 %vd([a 0]) src\n" + card.format(path) + "\nR1 a 0 1k\n"
                                ".tran 1u 10u\n.end\n")
    proc = memcircuit("simulate", "outside.cir", "--json", "-", cwd=run)
    assert proc.returncode == 2 and "refusing to read" in proc.stderr and "4.2" not in proc.stdout + proc.stderr
    proc = memcircuit("simulate", "inside.cir", "--json", "-", cwd=run)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["vectors"]["v(a)"][-1] == pytest.approx(1.5)
    proc = memcircuit("simulate", "outside.cir", "--json", "-", "--allow-include", str(secret.parent), cwd=run)
    assert proc.returncode == 0 and json.loads(proc.stdout)["vectors"]["v(a)"][-1] == pytest.approx(4.2)


def test_a_lib_card_with_a_path_and_no_section_is_refused(tmp_path):
    path = netlist(tmp_path, ".lib /etc/passwd")
    with pytest.raises(NetlistError, match="looks like a file but no section"):
        UserNetlist.from_file(path)
