"""The ``memcircuit`` command line: one click group, one module per area.

Every :class:`~memcircuit.errors.MemcircuitError` (and click's own usage errors) ends the program
with exit code 2 and one readable line on stderr; ``--debug`` shows the traceback instead.
SIGINT and SIGTERM end every command with its workers and ngspice processes, remove its
temporary run folders and exit 130 / 143 with one line (:mod:`memcircuit.processes`).
"""

from __future__ import annotations

import sys

import click

from memcircuit import __version__
from memcircuit.errors import MemcircuitError
from memcircuit.processes import interruptible
from memcircuit.threads import limit_threads

INTERRUPTED = "memcircuit: interrupted ({signal}); workers stopped"


class _Group(click.Group):
    """A group that turns our exceptions into one line and exit code 2."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except MemcircuitError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(f"error: {exc}", err=True)
            ctx.exit(2)
        except (ValueError, OSError) as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(f"error: {exc}", err=True)
            ctx.exit(2)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="memcircuit")
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """SPICE-level co-simulation of memristive deep-learning hardware.

    Build crossbar netlists with drivers and sense amplifiers, simulate them in ngspice
    (KLU solver, OSDI Verilog-A models), and train networks whose forward pass, backward pass
    and weight programming go through the circuit.

    Start with `memcircuit doctor` to check the installation.
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    limit_threads()  # one BLAS/OpenMP thread unless MEMCIRCUIT_BLAS_THREADS says otherwise


def _register() -> None:
    from memcircuit.cli import build, doctor, infer, models, plot, simulate, sweep, tile, train

    for module in (doctor, simulate, plot, models, build, tile, train, infer, sweep):
        module.register(cli)


_register()


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point; a signal ends it as :data:`INTERRUPTED` says."""
    interruptible(lambda: _main(argv), message=INTERRUPTED)


def _main(argv: list[str] | None) -> None:
    try:
        code = cli.main(args=argv, prog_name="memcircuit", standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        # One line, like every other error (click's default prints usage and a blank line too).
        click.echo(f"error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code if exc.exit_code else 2)


if __name__ == "__main__":  # pragma: no cover
    main()
