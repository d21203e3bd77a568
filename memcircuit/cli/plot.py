"""``memcircuit plot``: figures from saved results. Other areas add subcommands to this group."""

from __future__ import annotations

import click

from memcircuit.cli.simulate import parse_signals
from memcircuit.errors import ConfigError


@click.group()
def plot() -> None:
    """Make figures from saved results (raw files, tiles, training runs)."""


@plot.command("waveform")
@click.argument("raw_file", type=click.Path(dir_okay=False))
@click.option("--signals", required=True, help="Vectors to plot, e.g. v(out),i(v1).")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="PNG file to write.")
def waveform(raw_file: str, signals: str, output: str) -> None:
    """Plot signals from an ngspice raw file against time or the sweep variable.

    \b
    Example:
      memcircuit simulate rc.cir --tran 10u 5m --raw rc.raw
      memcircuit plot waveform rc.raw --signals v(in),v(out),i(v1) -o rc.png
    """
    from pathlib import Path

    from memcircuit.plot import plot_waveforms, save_figure
    from memcircuit.spice.rawfile import read_raw
    from memcircuit.spice.result import make_result

    if not Path(raw_file).is_file():
        raise ConfigError(f"raw file not found: {raw_file}")
    kind, vectors = read_raw(Path(raw_file))  # a damaged file is a one-line SimulationError
    result = make_result(kind, vectors)
    save_figure(plot_waveforms(result, parse_signals(signals)), output)
    click.echo(f"wrote {output}")


def register(cli: click.Group) -> None:
    cli.add_command(plot)
