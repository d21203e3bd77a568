"""``memcircuit doctor``: is the simulator stack installed and working?"""

from __future__ import annotations

import click

from memcircuit.cli.common import emit_json


@click.command()
@click.option("--json", "json_out", is_flag=False, flag_value="-", default=None, metavar="[FILE|-]",
              help="Write the findings as JSON to FILE, or stdout when no file (or '-') is given.")
@click.option("--no-shared", is_flag=True, help="Skip the in-process libngspice check (faster).")
def doctor(json_out: str | None, no_shared: bool) -> None:
    """Check ngspice (version, OSDI, KLU), libngspice, OpenVAF and PySpice.

    Runs small real simulations: a divider through libngspice and, when OpenVAF is installed,
    a Verilog-A resistor compiled and loaded through OSDI. Exit code 0 when everything essential
    works, 1 otherwise (the problems are listed).

    \b
    Example:
      memcircuit doctor --json            # to stdout
      memcircuit doctor --json env.json   # to a file
    """
    from memcircuit.spice.doctor import diagnose

    info = diagnose(shared=not no_shared)
    if json_out:
        emit_json(info, json_out)
    else:
        def yes(flag) -> str:
            return "yes" if flag else "NO"

        click.echo(f"memcircuit      {info['memcircuit']} (Python {info['python']})")
        click.echo(f"ngspice         {info['ngspice_version'] or 'not found'} at {info['ngspice_path']}")
        click.echo(f"  KLU           {yes(info['klu'])}")
        click.echo(f"  OSDI          {yes(info['osdi'])}  {info.get('osdi_detail', '')}")
        spinit = info.get("spinit_num_threads")
        click.echo(f"  threads       {info.get('ngspice_threads')} (MEMCIRCUIT_NGSPICE_THREADS"
                   + (f"; the package's spinit asks for {spinit})" if spinit else ")"))
        click.echo(f"libngspice      {info['libngspice'] or 'not found'}")
        if "shared_engine" in info:
            click.echo(f"  shared engine {yes(info['shared_engine'])}  {info['shared_engine_detail']}")
        click.echo(f"OpenVAF         {info['openvaf'] or 'none'}")
        click.echo(f"PySpice         {info['pyspice_version'] or 'not installed'}")
        for problem in info["problems"]:
            click.echo(f"problem: {problem}", err=True)
    click.get_current_context().exit(0 if info["ok"] else 1)


def register(cli: click.Group) -> None:
    cli.add_command(doctor)
