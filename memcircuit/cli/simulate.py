"""``memcircuit simulate``: run a netlist file in ngspice and export every vector."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import click

from memcircuit.cli.common import SIFloat, allow_include_option, check_output, emit_json, warn
from memcircuit.errors import ConfigError


def parse_signals(text: str | None) -> list[str]:
    """Split ``"v(a),i(v1)"`` into names (commas inside parentheses are not separators)."""
    if not text:
        return []
    out, depth, current = [], 0, ""
    for ch in text:
        if ch == "," and depth == 0:
            out.append(current.strip())
            current = ""
            continue
        depth += ch == "("
        depth -= ch == ")"
        current += ch
    out.append(current.strip())
    names = [s for s in out if s]
    if not names:
        raise ConfigError("--signals is empty; give names like v(out),i(v1)")
    return names


# ngspice's warnings about the circuit itself (a node without a DC path shows as a singular
# matrix at that node); stepping notes and recovered retries are left out.
_CIRCUIT_WARNING = re.compile(r"^\s*warning:\s*(.*(?:singular matrix|check node|floating|no dc path).*)$",
                              re.IGNORECASE)


def ngspice_warnings(log: str) -> list[str]:
    """ngspice's warnings about the circuit in a run's output, each once, in order."""
    found = (m.group(1).strip() for m in map(_CIRCUIT_WARNING.match, log.splitlines()) if m)
    return list(dict.fromkeys(re.sub(r"\s+", " ", text) for text in found))


@click.command()
@click.argument("netlist", type=click.Path(dir_okay=False))
@click.option("--op", "op_", is_flag=True, help="Run a DC operating point.")
@click.option("--tran", nargs=2, type=SIFloat(positive=True), metavar="STEP STOP",
              help="Run a transient: print step and stop time in seconds (1u 10m).")
@click.option("--json", "json_out", metavar="FILE|-", help="Write every vector by name as JSON ('-' = stdout).")
@click.option("--raw", "raw_out", type=click.Path(dir_okay=False), help="Also save ngspice's raw file here.")
@click.option("--plot", "plot_out", type=click.Path(dir_okay=False), help="Save a waveform plot (PNG).")
@click.option("--signals", help="Vectors to plot, e.g. v(out),i(v1). Default: all node voltages.")
@click.option("--engine", type=click.Choice(["batch", "shared"]), default="batch", show_default=True,
              help="batch: ngspice -b in a run directory; shared: libngspice in a worker process.")
@click.option("--timeout", type=SIFloat(positive=True), default=120.0, show_default=True,
              help="Seconds the whole run may take (ngspice, its convergence retries, reading the results).")
@click.option("--keep-dir", is_flag=True, help="Keep the run directory (batch engine) and print its path.")
@click.option("--allow-control", is_flag=True,
              help="Trust this netlist: allow .control blocks and shell commands (refused by default).")
@allow_include_option
def simulate(netlist, op_, tran, json_out, raw_out, plot_out, signals, engine, timeout, keep_dir,
             allow_control, allow_include) -> None:
    """Simulate NETLIST in ngspice (KLU on) and export the results.

    Without --op or --tran the netlist's own analysis card (.op, .tran, .dc) is run.
    ngspice's warnings about the circuit (a floating node: "singular matrix: check node e") are
    repeated on stderr, one line each.
    Vectors are named v(node) and i(source); subcircuit nodes as v(xinst.node).
    .include and .lib files resolve relative to the file that names them and must lie in the
    netlist's folder or the project's model folders, or under a folder given with --allow-include.

    \b
    Examples:
      memcircuit simulate divider.cir --op --json -
      memcircuit simulate rc.cir --tran 10u 5m --plot rc.png --signals v(in),v(out)
      memcircuit simulate amp/amp.cir --allow-include pdk   # amp.cir: .lib ../pdk/ptm45.lib tt
    """
    from memcircuit.netlist import Op, Tran
    from memcircuit.spice import BatchEngine, SharedEngine, UserNetlist

    if op_ and tran:
        raise ConfigError("choose one of --op and --tran")
    analysis = Op() if op_ else (Tran(step=tran[0], stop=tran[1]) if tran else None)
    user = UserNetlist.from_file(netlist, allow_control=allow_control, allow_include=allow_include)
    check_output(json_out, "--json")   # --raw and --plot are click paths that refuse folders already
    names = parse_signals(signals)
    if raw_out and engine != "batch":
        raise ConfigError("--raw needs the batch engine")
    if engine == "batch":
        eng = BatchEngine(timeout=timeout, keep_dir=keep_dir or bool(raw_out))
    else:
        eng = SharedEngine(timeout=timeout)
    with eng:
        result = eng.run(user, analysis)
        run_dir = getattr(eng, "last_run_dir", None)
    for text in ngspice_warnings(result.log):
        warn(f"ngspice: {text}")
    if raw_out and run_dir is not None:
        Path(raw_out).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(run_dir / "result.raw", raw_out)
        if not keep_dir:
            shutil.rmtree(run_dir, ignore_errors=True)
    if keep_dir and run_dir is not None:
        click.echo(f"run directory: {run_dir}", err=True)
    if json_out:  # results first: a bad --signals must not lose them
        emit_json(result.to_json(), json_out)
    if plot_out:
        from memcircuit.plot import plot_waveforms, save_figure

        chosen = names or [k for k in result if k.startswith("v(") and "." not in k]
        save_figure(plot_waveforms(result, chosen), plot_out)
    if not json_out:
        click.echo(f"{result.analysis}: {len(result)} vectors" +
                   (f", {len(result.sweep)} points" if result.sweep is not None else ""))
        if result.analysis == "op":
            for name, arr in result.items():
                click.echo(f"  {name:<20} {arr[0]: .6g}")


def register(cli: click.Group) -> None:
    cli.add_command(simulate)
