"""Multilayer perceptrons mapped onto crossbar tiles; activations and errors in the periphery.

Mapping of one fully connected layer ``z = W^T a + b`` (``n_in`` inputs, ``n_out`` outputs):

* **Rows** carry the inputs plus one bias row driven at the full read voltage (so the bias is a
  weight like any other and is trained by the same pulses). Row ``i`` is driven at
  ``V_i = v_read * a_i / s`` where ``s = max_i |a_i|`` per sample: a per-vector DAC gain that
  keeps every read below ``v_read`` (reads must not disturb the devices); the periphery
  multiplies the sensed currents back by ``s``. Optional ``input_bits`` quantise ``a_i / s`` on a
  mid-tread grid (a quantised network, paper 1: Yan et al., IEEE TNNLS 2023).
* **Signed weights** (:mod:`memcircuit.circuits.signed`): ``differential`` pairs
  ``W = (G+ - G-) / g_unit`` with ``g_unit = (g_max - g_min) / w_max`` (Prezioso et al., Nature
  521, 2015), or a ``reference`` column ``W = (G - G_ref) / g_unit`` with
  ``g_unit = (g_max - g_min) / (2 w_max)`` (Burr et al., IEEE TED 62(11), 2015).
* **Forward** (``read``): ``z_k = s * (I+_k - I-_k) / (v_read * g_unit)``.
* **Backward** (``read_t``): the error ``delta`` of the layer outputs drives the columns
  (``+e`` on G+, ``-e`` on G-; or ``e_k`` on column ``k`` and ``-sum_k e_k`` on the reference
  column), the rows are sensed at virtual ground, and ``W delta = s * I_rows / (v_read g_unit)``.
  Errors are scaled per sample like inputs, optionally quantised to ``error_bits``.
* **Tiles**: a layer larger than one tile (``tile_rows`` x ``tile_cols`` physical cells) is
  split into a grid of tiles; partial column currents of row blocks are summed in the periphery
  (digitally), as are partial row currents of column blocks in the backward pass. With the
  reference layout every column block has its own reference column.

Activations (sigmoid, tanh, ReLU; identity for a linear layer; one for all hidden layers or one
per hidden layer) and the output softmax with cross-entropy loss are computed in
Python from the sensed currents (periphery), as in the training circuits of Soudry et al.
(IEEE TNNLS 26(10), 2015) and Yan et al. (Neural Networks 128, 2020).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from memcircuit.circuits.signed import SIGNED, combine, logical_cols, physical_cols, weights_to_conductances
from memcircuit.errors import ConfigError
from memcircuit.fidelity import NGSPICE_FIDELITIES
from memcircuit.tiles.base import ProgramReport, PulseProgram, Tile
from memcircuit.tiles.config import TileConfig
from memcircuit.tiles.tiled import TilePool

if TYPE_CHECKING:
    from memcircuit.devices.base import DeviceModel

T = TypeVar("T")

ACTIVATIONS = ("sigmoid", "tanh", "relu")
#: what a hidden layer of a :class:`Network` may apply: the trainable activations and ``identity``
#: (a linear layer, as in imported networks that chain two dense layers)
LAYER_ACTIVATIONS = (*ACTIVATIONS, "identity")
TileFactory = Callable[[int, int, np.ndarray], Tile]
"""``factory(rows, cols, g)`` -> a tile of that physical size holding conductances ``g`` (S)."""


@dataclass(frozen=True)
class MappingConfig:
    """How a network sits on tiles (SI units).

    ``g_min``/``g_max`` (S): the device conductance range used for weights; ``w_max``: the weight
    magnitude that spans it; ``v_read`` (V): full-scale read amplitude on rows and columns;
    ``tile_rows``/``tile_cols``: physical tile size; ``input_bits``/``error_bits``: optional
    periphery quantisation of activations and errors (signed mid-tread, ``2**(bits-1) - 1`` levels
    per polarity).
    """

    g_min: float
    g_max: float
    signed: str = "differential"
    w_max: float = 1.0
    v_read: float = 0.1
    tile_rows: int = 64
    tile_cols: int = 64
    input_bits: int | None = None
    error_bits: int | None = None

    def __post_init__(self) -> None:
        if self.signed not in SIGNED:
            raise ConfigError(f"signed layout must be one of {', '.join(SIGNED)}, got {self.signed!r}")
        if not 0 <= self.g_min < self.g_max:
            raise ConfigError(f"need 0 <= g_min < g_max, got {self.g_min}, {self.g_max} S")
        if not self.w_max > 0 or not self.v_read > 0:
            raise ConfigError("w_max and v_read must be > 0")
        if self.tile_rows < 2 or self.tile_cols < 2:
            raise ConfigError(f"tiles need at least 2 rows and 2 columns, got {self.tile_rows} x {self.tile_cols}")
        for name in ("input_bits", "error_bits"):
            bits = getattr(self, name)
            if bits is not None and not (isinstance(bits, int) and 2 <= bits <= 24):
                raise ConfigError(f"{name} must be an integer in 2..24, got {bits!r}")

    @property
    def g_unit(self) -> float:
        """Conductance per unit weight in S."""
        span = self.g_max - self.g_min
        return span / self.w_max if self.signed == "differential" else span / (2 * self.w_max)


def conductance_range(device, v_read: float, margin: float = 0.02) -> tuple[float, float]:
    """(g_min, g_max) in S that weights may use on ``device``: its chord conductances at ``v_read``
    V in the lowest and highest state, each moved ``margin`` of the span inwards so that targets
    stay inside the range the states can reach."""
    lo = float(device.conductance(np.array([device.x_min]), v_read)[0])
    hi = float(device.conductance(np.array([device.x_max]), v_read)[0])
    g_lo, g_hi = min(lo, hi), max(lo, hi)
    inset = margin * (g_hi - g_lo)
    return g_lo + inset, g_hi - inset


def quantise(x: np.ndarray, bits: int | None) -> np.ndarray:
    """Signed mid-tread quantiser of values in [-1, 1]: ``round(x * L) / L``, ``L = 2**(bits-1) - 1``.

    Mid-tread keeps zero exact (ReLU zeros and vanishing errors stay zero), unlike the DAC model
    of :func:`memcircuit.circuits.drivers.dac_quantise` whose levels straddle zero.
    """
    if bits is None:
        return x
    levels = 2 ** (bits - 1) - 1
    return np.round(np.clip(x, -1.0, 1.0) * levels) / levels


def _scale_rows(x: np.ndarray, bits: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(x / s quantised, s) with ``s`` the per-sample max |x| (1 for all-zero samples)."""
    s = np.max(np.abs(x), axis=1, keepdims=True)
    s = np.where(s > 0, s, 1.0)
    return quantise(x / s, bits), s


def _blocks(n: int, size: int) -> list[tuple[int, int]]:
    return [(a, min(a + size, n)) for a in range(0, n, size)]


def tile_grid(n_in: int, n_out: int, tile_rows: int, tile_cols: int,
              signed: str) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Row blocks (inputs + bias row) and logical column blocks of a layer's grid of tiles."""
    per_tile = logical_cols(tile_cols - tile_cols % 2 if signed == "differential" else tile_cols,
                            signed)  # logical outputs per tile
    return _blocks(n_in + 1, tile_rows), _blocks(n_out, per_tile)


def network_bytes(layers: tuple[int, ...] | list[int], tile_rows: int, tile_cols: int, signed: str,
                  fidelity: str) -> float:
    """Estimated bytes of an MLP's tiles (``layers``: sizes, input first; :func:`layers_bytes`)."""
    return layers_bytes(list(zip(layers[:-1], layers[1:])), tile_rows, tile_cols, signed, fidelity)


def layers_bytes(pairs: list[tuple[int, int]], tile_rows: int, tile_cols: int, signed: str, fidelity: str) -> float:
    """Estimated bytes of the tiles of layers ``(n_in, n_out)`` (:func:`memcircuit.resources.crossbar_bytes`;
    one ngspice worker per tile at the spice and hybrid fidelities)."""
    from memcircuit.resources import crossbar_bytes

    total = 0.0
    for n_in, n_out in pairs:
        row_blocks, col_blocks = tile_grid(n_in, n_out, tile_rows, tile_cols, signed)
        engines = 1 if fidelity in NGSPICE_FIDELITIES else 0
        total += sum(crossbar_bytes(r1 - r0, physical_cols(c1 - c0, signed), engines=engines)
                     for r0, r1 in row_blocks for c0, c1 in col_blocks)
    return total


class MappedLayer:
    """One fully connected layer (with bias row) on a grid of tiles."""

    def __init__(self, n_in: int, n_out: int, cfg: MappingConfig, factory: TileFactory,
                 w0: np.ndarray, pool: TilePool | None = None) -> None:
        self.pool = pool if pool is not None else TilePool(1)
        w0 = np.asarray(w0, float)
        if w0.shape != (n_in + 1, n_out):
            raise ConfigError(f"initial weights must be {(n_in + 1, n_out)} (bias row last), got {w0.shape}")
        self.n_in, self.n_out, self.cfg = n_in, n_out, cfg
        self.row_blocks, self.col_blocks = tile_grid(n_in, n_out, cfg.tile_rows, cfg.tile_cols, cfg.signed)
        g = self.target_conductances(w0)
        self.tiles: list[list[Tile]] = [
            [factory(r1 - r0, physical_cols(c1 - c0, cfg.signed), g[r][c])
             for c, (c0, c1) in enumerate(self.col_blocks)]
            for r, (r0, r1) in enumerate(self.row_blocks)]

    # -- weights <-> conductances ----------------------------------------------------------------
    def target_conductances(self, w: np.ndarray) -> list[list[np.ndarray]]:
        """Per-tile physical conductances (S) that represent weights ``w`` (clipped to +-w_max).

        Differential pairs are centred on the middle of the range, ``G+- = g_mid +- w g_unit / 2``,
        so that both devices of a pair sit where potentiation and depression are equally fast for
        soft-bounded devices (the symmetry point of Gokmen and Vlasov, Front. Neurosci. 10, 2016);
        the reference layout is :func:`memcircuit.circuits.signed.weights_to_conductances`.
        """
        cfg = self.cfg
        w = np.clip(np.asarray(w, float), -cfg.w_max, cfg.w_max)
        out = []
        for r0, r1 in self.row_blocks:
            row = []
            for c0, c1 in self.col_blocks:
                block = w[r0:r1, c0:c1]
                if cfg.signed == "differential":
                    row.append(0.5 * (cfg.g_min + cfg.g_max) + self.physical_factor(block))
                else:
                    row.append(weights_to_conductances(block, cfg.g_min, cfg.g_max, cfg.signed, cfg.w_max))
            out.append(row)
        return out

    def weights(self) -> np.ndarray:
        """(n_in + 1, n_out) weights the tiles hold now, from their conductances (bias row last)."""
        w = np.empty((self.n_in + 1, self.n_out))
        for r, (r0, r1) in enumerate(self.row_blocks):
            for c, (c0, c1) in enumerate(self.col_blocks):
                w[r0:r1, c0:c1] = combine(self.tiles[r][c].conductances(), self.cfg.signed) / self.cfg.g_unit
        return w

    def physical_delta(self, dw: np.ndarray, r: int, c: int) -> np.ndarray:
        """Conductance changes (S) of tile (r, c) that realise weight change ``dw`` (full layer).

        Differential pairs split the change, ``+dw g_unit / 2`` on G+ and ``-dw g_unit / 2`` on G-;
        a reference layout moves the weight column by ``dw g_unit`` and leaves the reference alone.
        """
        (r0, r1), (c0, c1) = self.row_blocks[r], self.col_blocks[c]
        return self.physical_factor(dw[r0:r1, c0:c1])

    def physical_factor(self, v: np.ndarray) -> np.ndarray:
        """Map logical column values (last axis) to physical columns, as :meth:`physical_delta` does."""
        v = np.asarray(v, float) * self.cfg.g_unit
        if self.cfg.signed == "differential":
            out = np.empty(v.shape[:-1] + (2 * v.shape[-1],))
            out[..., 0::2], out[..., 1::2] = 0.5 * v, -0.5 * v
            return out
        return np.concatenate([v, np.zeros(v.shape[:-1] + (1,))], axis=-1)

    # -- passes --------------------------------------------------------------------------------
    def forward(self, a: np.ndarray) -> np.ndarray:
        """Pre-activations (batch, n_out) from inputs (batch, n_in) through the tiles' forward read."""
        cfg = self.cfg
        x = np.concatenate([a, np.ones((a.shape[0], 1))], axis=1)
        xq, s = _scale_rows(x, cfg.input_bits)
        v = cfg.v_read * xq
        z = np.zeros((a.shape[0], self.n_out))
        grid = [(r, c) for r in range(len(self.row_blocks)) for c in range(len(self.col_blocks))]
        parts = self.pool.map(lambda rc: self.tiles[rc[0]][rc[1]].read(v[:, slice(*self.row_blocks[rc[0]])]), grid)
        for (_, c), part in zip(grid, parts):  # summed in grid order: the same numbers at any thread count
            c0, c1 = self.col_blocks[c]
            z[:, c0:c1] += combine(part, cfg.signed)
        return z * s / (cfg.v_read * cfg.g_unit)

    def backward(self, delta: np.ndarray) -> np.ndarray:
        """``W delta`` (batch, n_in) without the bias row, through the tiles' transposed read."""
        cfg = self.cfg
        if cfg.signed == "reference":
            # the reference column carries -sum(e): scale so that it also stays within v_read
            s = np.maximum(np.max(np.abs(delta), axis=1, keepdims=True), np.abs(delta.sum(axis=1, keepdims=True)))
            s = np.where(s > 0, s, 1.0)
            eq = quantise(delta / s, cfg.error_bits)
        else:
            eq, s = _scale_rows(delta, cfg.error_bits)
        e = cfg.v_read * eq
        out = np.zeros((delta.shape[0], self.n_in + 1))
        drive = []
        for c0, c1 in self.col_blocks:
            ec = e[:, c0:c1]
            if cfg.signed == "differential":
                phys = np.empty((ec.shape[0], 2 * ec.shape[1]))
                phys[:, 0::2], phys[:, 1::2] = ec, -ec
            else:
                phys = np.concatenate([ec, -ec.sum(axis=1, keepdims=True)], axis=1)
            drive.append(phys)
        grid = [(r, c) for c in range(len(self.col_blocks)) for r in range(len(self.row_blocks))]
        parts = self.pool.map(lambda rc: self.tiles[rc[0]][rc[1]].read_t(drive[rc[1]]), grid)
        for (r, _), part in zip(grid, parts):
            r0, r1 = self.row_blocks[r]
            out[:, r0:r1] += part
        return (out * s / (cfg.v_read * cfg.g_unit))[:, :self.n_in]

    def program(self, programs: list[list[PulseProgram | None]]) -> list[ProgramReport]:
        """Apply one program per tile (None or an empty program skips the tile, unless it carries a
        learning-rate cell's adaptation pulse); returns the tiles' reports."""
        jobs = [(self.tiles[r][c], prog) for r, row in enumerate(programs) for c, prog in enumerate(row)
                if prog is not None and (prog.steps or (prog.lr_stage is not None and prog.lr_stage.adapts))]
        return self.pool.map(lambda job: job[0].program(job[1]), jobs)

    def all_tiles(self) -> list[Tile]:
        """Every tile of the grid, row-major."""
        return [t for row in self.tiles for t in row]

    def tile(self, r: int, c: int) -> Tile:
        """Tile (r, c) of the grid: rows ``row_blocks[r]``, logical columns ``col_blocks[c]``."""
        return self.tiles[r][c]

    def map_tiles(self, fn: Callable[[Tile], T]) -> list[list[T]]:
        """``fn(tile)`` for every tile, one after another, in the grid's shape (one list per row block)."""
        return [[fn(t) for t in row] for row in self.tiles]

    @property
    def device(self) -> DeviceModel | None:
        """The device model of the layer's cells without device-to-device variation (the model a
        per-cell array varies around); None for a tile without memristor cells."""
        device = self.tiles[0][0].device
        return None if device is None else device.nominal


TiledLayer = MappedLayer  # earlier name, kept for modules written against it


def activate(z: np.ndarray, kind: str) -> np.ndarray:
    if kind == "sigmoid":
        return 0.5 * (1.0 + np.tanh(0.5 * z))
    if kind == "tanh":
        return np.tanh(z)
    if kind == "relu":
        return np.maximum(z, 0.0)
    if kind == "identity":
        return z
    raise ConfigError(f"activation must be one of {', '.join(LAYER_ACTIVATIONS)}, got {kind!r}")


def activation_slope(z: np.ndarray, a: np.ndarray, kind: str) -> np.ndarray:
    """f'(z) given z and a = f(z)."""
    if kind == "sigmoid":
        return a * (1.0 - a)
    if kind == "tanh":
        return 1.0 - a * a
    if kind == "identity":
        return np.ones_like(z)
    return (z > 0).astype(float)


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def cross_entropy(p: np.ndarray, y: np.ndarray) -> float:
    """Mean cross-entropy (nats) of softmax outputs ``p`` against labels ``y``."""
    return float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], 1e-12, None))))


def xavier_init(sizes: list[int], rng: np.random.Generator, w_max: float) -> list[np.ndarray]:
    """Glorot-uniform weights (Glorot and Bengio, AISTATS 2010), bias rows 0, clipped to +-w_max."""
    out = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        limit = min(np.sqrt(6.0 / (n_in + n_out)), w_max)
        w = np.zeros((n_in + 1, n_out))
        w[:n_in] = rng.uniform(-limit, limit, size=(n_in, n_out))
        out.append(w)
    return out


@dataclass
class ForwardCache:
    """What the backward pass needs: inputs ``a`` and pre-activations ``z`` of every layer."""

    inputs: list[np.ndarray]
    pre: list[np.ndarray]
    probs: np.ndarray


class TileNetwork:
    """What the training loop and the optimizers use of a network on tiles, for every kind of
    network: ``layers`` (:class:`MappedLayer` s), ``cfg``, ``pool``, and ``forward(x)`` giving a
    cache with ``probs``; the kinds differ in their forward and backward passes."""

    layers: list[MappedLayer]
    pool: TilePool

    def forward(self, x: np.ndarray):
        raise NotImplementedError

    def predict(self, x: np.ndarray, batch: int = 256) -> np.ndarray:
        """Class probabilities for ``x`` (forward reads only)."""
        return np.concatenate([self.forward(x[i:i + batch]).probs for i in range(0, len(x), batch)])

    def weights(self) -> list[np.ndarray]:
        return [layer.weights() for layer in self.layers]

    def tiles(self) -> list[Tile]:
        return [t for layer in self.layers for t in layer.all_tiles()]

    def close(self) -> None:
        self.pool.close()
        for tile in self.tiles():
            tile.close()


def output_error(probs: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Error of the softmax + mean cross-entropy output for labels ``y``: ``(p - onehot(y)) / batch``."""
    n = len(y)
    target = np.zeros_like(probs)
    target[np.arange(n), y] = 1.0
    return (probs - target) / n


class Network(TileNetwork):
    """An MLP on tiles: ``sizes = [n_in, hidden..., n_classes]``, softmax + cross-entropy output."""

    def __init__(self, sizes: list[int], cfg: MappingConfig, factory: TileFactory,
                 rng: np.random.Generator, activation: str | Sequence[str] = "sigmoid",
                 weights: list[np.ndarray] | None = None, parallel_tiles: int = 1,
                 w_max: Sequence[float] | None = None) -> None:
        """``activation``: one name for every hidden layer or one per hidden layer
        (:data:`LAYER_ACTIVATIONS`). ``parallel_tiles``: threads that read and program the tiles
        of a layer concurrently (each spice/hybrid tile has its own ngspice workers; results are
        gathered in grid order, so they are the same at any thread count). ``w_max``: per layer
        the weight that spans the conductance range (default ``cfg.w_max`` for all), so that a
        network with layers of very different weight magnitudes uses the whole range in each;
        the periphery's output scale ``1 / g_unit`` of each layer follows it."""
        if len(sizes) < 2 or any(int(s) < 1 for s in sizes):
            raise ConfigError(f"layer sizes must be at least two positive integers, got {sizes}")
        if sizes[-1] < 2:
            raise ConfigError("the output layer needs at least two classes")
        hidden = len(sizes) - 2
        kinds = [activation] * hidden if isinstance(activation, str) else list(activation)
        if len(kinds) != hidden:
            raise ConfigError(f"{hidden} hidden layer(s) need {hidden} activation(s), got {len(kinds)}")
        for kind in kinds if kinds or not isinstance(activation, str) else [activation]:
            activate(np.zeros(1), kind)  # validates the names
        self.sizes, self.cfg, self.activation = [int(s) for s in sizes], cfg, activation
        self.activations = kinds
        scales = [cfg.w_max] * (len(sizes) - 1) if w_max is None else [float(w) for w in w_max]
        if len(scales) != len(sizes) - 1 or not all(np.isfinite(w) and w > 0 for w in scales):
            raise ConfigError(f"w_max needs one value > 0 per layer ({len(sizes) - 1}), got {list(w_max or [])}")
        w0 = weights if weights is not None else xavier_init(self.sizes, rng, cfg.w_max)
        self.pool = TilePool(parallel_tiles)
        self.layers = [MappedLayer(n_in, n_out, replace(cfg, w_max=wm), factory, w, self.pool)
                       for n_in, n_out, w, wm in zip(self.sizes[:-1], self.sizes[1:], w0, scales)]

    def forward(self, x: np.ndarray) -> ForwardCache:
        inputs, pre = [], []
        a = x
        for k, layer in enumerate(self.layers):
            inputs.append(a)
            z = layer.forward(a)
            pre.append(z)
            a = softmax(z) if k == len(self.layers) - 1 else activate(z, self.activations[k])
        return ForwardCache(inputs, pre, a)

    def backward(self, cache: ForwardCache, y: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per layer the rank-1 factors ``(x, delta)`` of the batch gradient.

        ``x`` is (batch, n_in + 1) with the bias input 1 appended, ``delta`` is (batch, n_out) the
        error at the layer output already divided by the batch size, so that the gradient of the
        mean loss is ``x^T delta``. Errors of hidden layers come from the tiles' backward read.
        """
        n = len(y)
        delta = output_error(cache.probs, y)
        out: list[tuple[np.ndarray, np.ndarray]] = []
        for k in range(len(self.layers) - 1, -1, -1):
            a = cache.inputs[k]
            out.append((np.concatenate([a, np.ones((n, 1))], axis=1), delta))
            if k > 0:
                back = self.layers[k].backward(delta)
                prev_a = cache.inputs[k]
                delta = back * activation_slope(cache.pre[k - 1], prev_a, self.activations[k - 1])
        return out[::-1]


def layer_tile(config: TileConfig, g: np.ndarray, k: int, *, device, seed: int, variation: float,
               clip_to_device: bool = False) -> Tile:
    """The ``k``-th tile of a network (training and inference build theirs alike) of ``config``
    (its shape is that of ``g``) with the resolved ``device`` model: programming noise from stream
    ``[seed, 1, k]``, device-to-device variation (relative sigma ``variation``) from
    ``[seed, 5, k]``. ``clip_to_device``: each cell's conductance ``g`` (S) clipped to the range
    its own varied device reaches."""
    from memcircuit.devices import sample_devices
    from memcircuit.tiles import make_tile_from

    rows, cols = np.shape(g)
    if variation > 0:
        device = sample_devices(device, (rows, cols), np.random.default_rng([seed, 5, k]), spread=variation)
        if clip_to_device:
            lo, hi = (device.conductance(np.full((rows, cols), x), config.v_read) for x in (device.x_min, device.x_max))
            g = np.clip(g, np.minimum(lo, hi), np.maximum(lo, hi))
    config = replace(config, rows=rows, cols=cols, device=device, device_options={})
    return make_tile_from(config, g=g, rng=np.random.default_rng([seed, 1, k]))
