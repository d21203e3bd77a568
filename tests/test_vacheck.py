"""``memcircuit models check``: one finding per construct OpenVAF or ngspice cannot run faithfully."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from memcircuit.cli import cli
from memcircuit.devices.base import MODELS_DIR
from memcircuit.devices.vacheck import check_va, parse_openvaf, require_runnable
from memcircuit.errors import ModelCompileError

VA = Path(__file__).parent / "data" / "va"

#: fixture -> (severity, code, line) of the one finding it must give
CASES = {
    "hand_integration.va": ("error", "hand-integration", 9),
    "accumulate.va": ("error", "persistent-variable", 8),
    "persistent.va": ("error", "persistent-variable", 9),
    "initial_step.va": ("error", "initial-step-state", 11),
    "initial_capture.va": ("error", "initial-step-capture", 10),
    "rdist.va": ("error", "random-number", 14),
    "random.va": ("error", "random-number", 13),
    "transition.va": ("error", "transition", 13),
    "slew.va": ("error", "slew", 13),
    "laplace.va": ("error", "filter", 13),
    "absdelay.va": ("error", "absdelay", 13),
    "no_state.va": ("error", "no-state", 3),
    "terminal_ddt.va": ("error", "unreadable-state", 8),
    "idt_state.va": ("error", "unreadable-state", 9),
    "three_terminals.va": ("error", "terminals", 3),
    "include_outside.va": ("error", "include-outside", 3),
    "variable_named_i.va": ("error", "reserved-name", 7),
    "hard_clip.va": ("warning", "hard-clip", 13),
}


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_construct_is_one_finding_at_its_line(name):
    severity, code, line = CASES[name]
    report = check_va(VA / name, compile=False)
    first = report.findings[0]
    assert (first.severity, first.code, first.line) == (severity, code, line), first.format()
    assert {f.code for f in report.findings} == {code}, [f.format() for f in report.findings]
    assert first.format().startswith(f"{VA / name}:{line}: {severity}: ")
    assert report.ok == (severity == "warning")


def test_messages_say_what_to_do_instead():
    by_name = {name: check_va(VA / name, compile=False).findings[0].message for name in CASES}
    assert "ddt(V(st))" in by_name["hand_integration.va"] and "$abstime" in by_name["hand_integration.va"]
    assert "pass-through" in by_name["absdelay.va"]
    assert "tanh((1 - x)/0.002)" in by_name["hard_clip.va"]
    assert "line 10" in by_name["initial_step.va"]
    assert "(p, n, g)" in by_name["three_terminals.va"]


def test_hand_integration_names_every_variable_kept_between_steps():
    found = check_va(VA / "hand_integration.va", compile=False).errors
    assert [(f.line, f.message.split()[0]) for f in found] == [(9, "t_prev"), (10, "x")]


@pytest.mark.parametrize("name", ["good.va", "good_include.va"])
def test_well_posed_model_scans_clean(name):
    report = check_va(VA / name, compile=False)
    assert report.findings == [] and report.ok
    assert list(report.states.values()) == [["st"]]


@pytest.mark.osdi
@pytest.mark.parametrize("name", ["good.va", "good_include.va"])
def test_well_posed_model_compiles_with_no_finding(name):
    report = check_va(VA / name)
    assert report.findings == [] and report.compiled and report.osdi.is_file() and report.ran
    assert report.summary().endswith("compiled with OpenVAF, solved in ngspice at 0.1 V")
    assert require_runnable(VA / name) == report.osdi


@pytest.mark.osdi
def test_compile_error_carries_openvafs_message_and_line():
    report = check_va(VA / "compile_error.va")
    assert not report.compiled and len(report.errors) == 1
    err = report.errors[0]
    assert err.code == "openvaf" and err.path == str(VA / "compile_error.va")
    assert err.line == 14 and "expected ';'" in err.message


@pytest.mark.osdi
def test_a_model_ngspice_cannot_solve_is_an_error():
    report = check_va(VA / "ngspice_fails.va")
    assert report.compiled and report.ran and not report.ok
    (err,) = report.errors
    assert (err.code, err.line) == ("ngspice", 3) and "could not solve module ngspice_fails at 0.1 V" in err.message
    assert check_va(VA / "ngspice_fails.va", simulate=False).ok


@pytest.mark.osdi
def test_a_state_node_without_dc_path_is_a_warning(tmp_path):
    (tmp_path / "good_rate.vams").write_text((VA / "good_rate.vams").read_text())
    (tmp_path / "m.va").write_text((VA / "good_include.va").read_text().replace(" + 1e-15 * V(st);", ";"))
    report = check_va(tmp_path / "m.va")
    (warning,) = report.findings
    assert report.ok and (warning.code, warning.line) == ("dc-path", 3) and "1e-15*V(st)" in warning.message


@pytest.mark.osdi
def test_hard_clip_is_only_a_warning_and_still_compiles():
    report = check_va(VA / "hard_clip.va")
    assert report.ok and report.compiled and len(report.warnings) == 2


@pytest.mark.osdi
def test_projects_own_models_pass():
    for va in sorted(MODELS_DIR.glob("*.va")):
        report = check_va(va)
        assert report.findings == [] and report.compiled and report.ran, [f.format() for f in report.findings]
        assert all(states == ["st"] for states in report.states.values())


def test_require_runnable_fails_before_any_simulation():
    with pytest.raises(ModelCompileError, match=r"hand_integration\.va:9: error: t_prev .*and 1 more error"):
        require_runnable(VA / "hand_integration.va")
    with pytest.raises(ModelCompileError, match=r"absdelay\.va:13: error: absdelay"):
        require_runnable(VA / "absdelay.va")
    with pytest.raises(ModelCompileError, match="not found"):
        require_runnable(VA / "missing.va")


def test_include_missing_and_include_loop(tmp_path):
    good = (VA / "good_include.va").read_text()
    (tmp_path / "m.va").write_text(good.replace("good_rate.vams", "absent.vams"))
    assert check_va(tmp_path / "m.va", compile=False).errors[0].code == "include-missing"
    (tmp_path / "loop.vams").write_text('`include "loop.vams"\n')
    (tmp_path / "l.va").write_text(good.replace("good_rate.vams", "loop.vams"))
    assert "include-loop" in {f.code for f in check_va(tmp_path / "l.va", compile=False).errors}


def test_findings_in_an_include_name_the_included_file(tmp_path):
    (tmp_path / "rate.vams").write_text("// rate\n        rate = absdelay(k * V(p, n), 1n);\n")
    (tmp_path / "m.va").write_text((VA / "good_include.va").read_text().replace("good_rate.vams", "rate.vams"))
    (finding,) = check_va(tmp_path / "m.va", compile=False).findings
    assert (finding.path, finding.line, finding.code) == (str(tmp_path / "rate.vams"), 2, "absdelay")


def test_comments_and_strings_are_not_code(tmp_path):
    text = (VA / "good.va").read_text().replace(
        "    analog begin", '    // x = x + $abstime; absdelay(x, 1)\n    /* transition(\n slew( */\n    analog begin')
    (tmp_path / "m.va").write_text(text)
    assert check_va(tmp_path / "m.va", compile=False).findings == []


def test_parse_openvaf_output():
    out = ("\x1b[1m\x1b[31merror\x1b[0m: function 'slew' is currently not supported by OpenVAF\n"
           "   --> /tmp/m.va:13:16\n   |\nerror: could not compile `m.va` due to 1 previous errors\n")
    (f,) = parse_openvaf(out, "m.va")
    assert (f.path, f.line, f.severity) == ("/tmp/m.va", 13, "error") and "slew" in f.message


def test_cli_lines_summary_json_and_exit_code():
    out = invoke("models", "check", str(VA / "absdelay.va"), str(VA / "no_state.va"), "--no-compile")
    assert out.exit_code == 2
    lines = out.output.splitlines()
    assert lines[0].startswith(f"{VA / 'absdelay.va'}:13: error: absdelay")
    assert lines[1] == (f"{VA / 'absdelay.va'}: 1 error, 0 warnings; fixture: state on st; "
                        "not compiled (fix the errors first)")
    assert lines[2].startswith(f"{VA / 'no_state.va'}:3: error: module no_state has no state")
    out = invoke("models", "check", str(VA / "hard_clip.va"), "--no-compile", "--json", "-")
    assert out.exit_code == 0
    data = json.loads(out.stdout)   # the lines go to stderr when the JSON goes to stdout
    assert data["ok"] and data["models"][0]["warnings"] == 2
    assert data["models"][0]["findings"][0]["code"] == "hard-clip"


def test_ternary_clip_of_the_state_is_a_warning(tmp_path):
    text = (VA / "good.va").read_text().replace("        x = x0 + V(st);\n",
                                                 "        x = x0 + V(st);\n        x = x > 1 ? 1 : x;\n")
    (tmp_path / "m.va").write_text(text)
    (finding,) = check_va(tmp_path / "m.va", compile=False).findings
    assert (finding.severity, finding.code, finding.line) == ("warning", "hard-clip", 15)


def test_constants_set_in_initial_step_are_fine(tmp_path):
    # OpenVAF runs @(initial_step) at every evaluation (measured): a constant set there holds
    text = (VA / "good.va").read_text().replace(
        "        vpn = V(p, n);\n", "        @(initial_step) begin\n            k2 = 2 * k;\n        end\n"
        "        vpn = V(p, n);\n").replace("real vpn, x, rate;", "real vpn, x, rate, k2;")
    text = text.replace("rate = k *", "rate = k2 *")
    (tmp_path / "m.va").write_text(text)
    assert check_va(tmp_path / "m.va", compile=False).findings == []


def test_an_unparsable_analog_block_is_left_to_openvaf(tmp_path):
    text = (VA / "good.va").read_text().replace("    end\nendmodule", "endmodule")
    (tmp_path / "m.va").write_text(text)
    (finding,) = check_va(tmp_path / "m.va", compile=False).findings
    assert finding.severity == "warning" and finding.code == "not-scanned"
