"""``memcircuit sweep``: many independent jobs from a YAML spec, locally or on Dask."""

from __future__ import annotations

from dataclasses import replace

import click

from memcircuit.cli.common import SIFloat, allow_include_option, check_output, emit_json
from memcircuit.parallel.jobs import JobKind

#: The job kinds a spec names: each layer's job function and the check of its parameters. The
#: table lives here, at the top, so that the sweep runner below never names the layers above it.
JOB_KINDS: dict[str, JobKind] = {
    "spice": JobKind("memcircuit.spice.jobs:spice_job", "memcircuit.spice.jobs:check_job"),
    "train": JobKind("memcircuit.train.jobs:train_job", "memcircuit.train.jobs:check_job"),
    "device": JobKind("memcircuit.devices.jobs:device_job", "memcircuit.devices.jobs:check_job"),
    "tile": JobKind("memcircuit.tiles.jobs:tile_job", "memcircuit.tiles.jobs:check_job"),
}


@click.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Directory for per-job outcomes and the results table (re-use it to resume).")
@click.option("--executor", type=click.Choice(["local", "dask"]), default="local", show_default=True,
              help="local: a pool of job processes on this machine; dask: Dask distributed.")
@click.option("--scheduler", metavar="ADDRESS", help="Dask scheduler address (tcp://host:8786); "
              "without it --executor dask starts a LocalCluster.")
@click.option("--workers", type=click.IntRange(min=1), help="Parallel jobs (default: one per core).")
@click.option("--json", "json_out", metavar="FILE|-", help="Write the summary and table as JSON.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--timeout", type=SIFloat(positive=True), metavar="SECONDS",
              help="Wall-clock limit per job (replaces the spec's timeout). A train job stops itself a "
                   "little before it, keeps its checkpoint and is resumed when the sweep runs again.")
@allow_include_option
def sweep(spec, out_dir, executor, scheduler, workers, json_out, quiet, timeout, allow_include) -> None:
    """Run a parameter / Monte-Carlo sweep described by SPEC (YAML).

    Every job runs in its own process with its own ngspice and a timeout; its outcome is written
    atomically to OUT/jobs/<id>/outcome.json. Every job's parameters are checked before the
    first job starts (an unknown key, a value of the wrong kind, a size beyond this machine's
    memory: exit 2 naming it); a job that fails while running is reported and the sweep goes on.
    Running the same command again skips finished jobs (resume). The table of swept values and
    metrics is OUT/results.csv and OUT/results.json. Exit code 1 when any job failed.

    \b
    Spec example (seeds x device variation for a training run):
      kind: train
      base: {dataset: iris, layers: [4, 8, 3], epochs: 5, fidelity: numeric}
      axes:
        seed: [0, 1, 2, 3, 4]
        device.spread: [0.0, 0.1, 0.3]
      timeout: 900
    kind is spice (a netlist file), train, device, tile, or a function of your own,
    package.module:function, called as fn(params, workdir) and returning a dict of metrics.
    Jobs of kind spice load their netlist like `memcircuit simulate`: .include/.lib files in its
    folder or the model folders, or under a folder given with --allow-include.

    \b
    Examples:
      memcircuit sweep study.yaml --out runs/study
      memcircuit sweep study.yaml --out runs/study --timeout 3600   # resumes jobs that timed out
      memcircuit sweep study.yaml --out runs/study --executor dask --scheduler tcp://head:8786
      memcircuit sweep amp_study.yaml --out runs/amp --allow-include pdk
      memcircuit plot sweep runs/study --x device.spread --y final_test_acc -o acc.png
    """
    from memcircuit.parallel import SweepSpec, make_executor, run_sweep

    parsed = SweepSpec.from_file(spec, kinds=JOB_KINDS)
    if timeout is not None:
        parsed = replace(parsed, timeout=timeout)
    if allow_include:  # part of the jobs' parameters (and so of their ids) only when given
        parsed = replace(parsed, base={**parsed.base, "allow_include": list(allow_include)})
    check_output(json_out, "--json")
    with make_executor(executor, workers=workers, scheduler=scheduler) as ex:
        report = run_sweep(parsed, out_dir, ex, progress=not quiet)
    click.echo(f"{report.total} jobs: {report.ran} run, {report.skipped} already done, {report.failed} failed; "
               f"table: {report.table_csv}", err=True)
    if json_out:
        emit_json({"total": report.total, "ran": report.ran, "skipped": report.skipped,
                   "failed": report.failed, "rows": report.rows}, json_out)
    click.get_current_context().exit(1 if report.failed else 0)


@click.command("sweep")
@click.argument("sweep_dir", type=click.Path(file_okay=False))
@click.option("--x", "x_col", required=True, help="Column for the x axis (a swept value or a metric).")
@click.option("--y", "y_col", required=True, help="Metric for the y axis, e.g. final_test_acc.")
@click.option("--hue", help="Column that splits the data into lines, e.g. optimizer.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="PNG file to write.")
def plot_sweep(sweep_dir, x_col, y_col, hue, output) -> None:
    """Plot a sweep table: mean and spread of Y against X (over the other swept values, e.g. seeds).

    \b
    Examples:
      memcircuit plot sweep runs/study --x device.spread --y final_test_acc -o acc_vs_variation.png
      memcircuit plot sweep runs/study --x pulses --y final_test_acc --hue optimizer -o acc_vs_pulses.png
    """
    from memcircuit.plot import save_figure
    from memcircuit.plot.sweep import load_table, plot_sweep_table

    rows = load_table(sweep_dir)
    save_figure(plot_sweep_table(rows, x_col, y_col, hue=hue), output)
    click.echo(f"wrote {output}")


def register(cli: click.Group) -> None:
    cli.add_command(sweep)
    cli.commands["plot"].add_command(plot_sweep, "sweep")
