"""Convolutional networks on crossbar tiles: conv2d by im2col, pooling and flatten in the periphery.

Mapping of one conv2d layer (``F`` filters of ``C x kh x kw`` on inputs ``C x H x W``, stride
``s``, zero padding ``p``): the input is unrolled into patches (im2col), one row vector of
``C kh kw`` values per output position, ordered channel-major (``c, i, j``, the layout of ONNX and
PyTorch weights ``(F, C, kh, kw)``). The weights are the ``(C kh kw + 1, F)`` matrix of a dense
layer on tiles (:class:`~memcircuit.train.network.MappedLayer`: kernel x channels on the rows,
filters on the columns, bias row last). One forward read per patch gives the ``F`` outputs of that
position; the backward read of the output error of every position gives the error of its patch,
which is scattered back (col2im: summed where patches overlap). The weight gradient is the sum
over positions and samples of the outer products ``patch x error``, so the tile's update takes
``positions x batch`` rank-1 terms, exactly as a dense layer takes ``batch`` (Gokmen et al.,
Front. Neurosci. 11, 2017, "Training deep CNNs with resistive cross-point devices").

Pooling (max, average; square windows with stride equal to the window) and flatten run in the
periphery (numpy), as the activations do. A network is a chain of stages written as a model spec:

    [input:CxHxW,] conv:FxKHxKW[:sS][:pP], relu|sigmoid|tanh|identity, maxpool:K | avgpool:K,
    flatten, dense:N, ...

ending in ``dense:n_classes`` (softmax with cross-entropy follows, as for the MLPs). Without
``input:`` a data set of ``n`` features is read as one ``sqrt(n) x sqrt(n)`` channel. Tensors are
``(batch, C, H, W)`` (NCHW, as ONNX).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from memcircuit.errors import ConfigError
from memcircuit.tiles.tiled import TilePool
from memcircuit.train.network import (
    LAYER_ACTIVATIONS,
    MappedLayer,
    MappingConfig,
    TileFactory,
    TileNetwork,
    activate,
    activation_slope,
    output_error,
    softmax,
)

POOLS = ("maxpool", "avgpool")
Shape = tuple[int, ...]


@dataclass(frozen=True)
class Stage:
    """One stage of a chain: ``conv`` (``n`` filters of ``kh x kw``, ``stride``, ``pad``),
    ``dense`` (``n`` outputs), an activation, ``maxpool``/``avgpool`` (window ``kh``) or ``flatten``."""

    kind: str
    n: int = 0
    kh: int = 0
    kw: int = 0
    stride: int = 1
    pad: int = 0

    @property
    def on_tiles(self) -> bool:
        return self.kind in ("conv", "dense")

    def __str__(self) -> str:
        if self.kind == "conv":
            extra = (f":s{self.stride}" if self.stride != 1 else "") + (f":p{self.pad}" if self.pad else "")
            return f"conv:{self.n}x{self.kh}x{self.kw}{extra}"
        if self.kind == "dense":
            return f"dense:{self.n}"
        if self.kind in POOLS:
            return f"{self.kind}:{self.kh}"
        return self.kind


SPEC_HELP = ("comma-separated stages: [input:CxHxW,] conv:FxKHxKW[:sS][:pP], relu|sigmoid|tanh|identity, "
             "maxpool:K, avgpool:K, flatten, dense:N; the last stage is dense:<classes> (softmax follows)")


def _ints(text: str, count: tuple[int, ...], what: str) -> list[int]:
    parts = text.split("x")
    if len(parts) not in count or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise ValueError(f"{what} needs {' or '.join(str(c) for c in count)} positive integers joined by x, "
                         f"got {text!r}")
    return [int(p) for p in parts]


def _parse_stage(token: str) -> Stage:
    name, _, arg = token.partition(":")
    if name == "conv":
        dims, *opts = arg.split(":")
        n, *k = _ints(dims, (2, 3), "conv")
        kh, kw = (k[0], k[0]) if len(k) == 1 else k
        stride, pad = 1, 0
        for opt in opts:
            if len(opt) > 1 and opt[0] in "sp" and opt[1:].isdigit():
                if opt[0] == "s":
                    stride = int(opt[1:])
                else:
                    pad = int(opt[1:])
            else:
                raise ValueError(f"conv option {opt!r}: use sN (stride) or pN (zero padding)")
        if stride < 1:
            raise ValueError("conv stride must be >= 1")
        return Stage("conv", n, kh, kw, stride, pad)
    if name == "dense":
        return Stage("dense", _ints(arg, (1,), "dense")[0])
    if name in POOLS:
        k = _ints(arg, (1,), name)[0]
        return Stage(name, kh=k, kw=k, stride=k)
    if name in (*LAYER_ACTIVATIONS, "flatten") and not arg:
        return Stage(name)
    raise ValueError(f"unknown stage {token!r}")


def parse_spec(spec: str, n_features: int | None = None) -> tuple[Shape | None, list[Stage]]:
    """(input shape or None, stages) of a model spec (module doc); one :class:`ConfigError` line."""
    tokens = [t.strip() for t in spec.split(",") if t.strip()]
    shape: Shape | None = None
    stages: list[Stage] = []
    try:
        if not tokens:
            raise ValueError("it is empty")
        if tokens[0].startswith("input:"):
            shape = tuple(_ints(tokens.pop(0)[len("input:"):], (1, 3), "input"))
        stages = [_parse_stage(t) for t in tokens]
    except ValueError as exc:
        raise ConfigError(f"model spec {spec!r}: {exc} ({SPEC_HELP})") from None
    if shape is None and n_features is not None:
        side = math.isqrt(n_features)
        shape = (1, side, side) if side * side == n_features and any(s.kind == "conv" for s in stages) \
            else (n_features,)
    return shape, stages


def plan(stages: Sequence[Stage], input_shape: Shape, n_classes: int | None = None,
         where: str = "model") -> list[tuple[Shape, Shape]]:
    """Per stage its (input shape, output shape) without the batch axis; checks the chain whole.

    A ``conv`` or a pooling stage needs a ``C x H x W`` input, ``dense`` a flat one (``flatten``
    first); the last stage must be ``dense`` (``n_classes`` outputs when given)."""
    def fail(k: int, why: str) -> ConfigError:
        return ConfigError(f"{where}: stage {k + 1} ({stages[k]}): {why}")

    if not stages:
        raise ConfigError(f"{where}: no stages")
    shape, out = tuple(int(s) for s in input_shape), []
    for k, st in enumerate(stages):
        try:
            new = stage_shape(st, shape)
        except ValueError as exc:
            raise fail(k, str(exc)) from None
        out.append((shape, new))
        shape = new
    if stages[-1].kind != "dense":
        raise fail(len(stages) - 1, "the last stage must be dense:<classes> (softmax follows it)")
    if n_classes is not None and stages[-1].n != n_classes:
        raise fail(len(stages) - 1, f"the data set has {n_classes} classes")
    return out


def stage_shape(st: Stage, shape: Shape) -> Shape:
    """Output shape of stage ``st`` for an input of ``shape`` (no batch axis); ValueError says why not."""
    if st.kind in ("conv", *POOLS):
        if len(shape) != 3:
            raise ValueError(f"needs a C x H x W input, got {'x'.join(map(str, shape))} (a flat vector)")
        c, h, w = shape
        pad = st.pad if st.kind == "conv" else 0
        ho, wo = (h + 2 * pad - st.kh) // st.stride + 1, (w + 2 * pad - st.kw) // st.stride + 1
        if ho < 1 or wo < 1:
            raise ValueError(f"a {st.kh}x{st.kw} window does not fit a {h}x{w} input")
        if st.kind != "conv" and (h % st.kh or w % st.kw):
            raise ValueError(f"a {st.kh}x{st.kw} window must tile the {h}x{w} input exactly")
        return (st.n if st.kind == "conv" else c, ho, wo)
    if st.kind == "dense":
        if len(shape) != 1:
            raise ValueError(f"needs a flat input, got {'x'.join(map(str, shape))}: put flatten before it")
        return (st.n,)
    if st.kind == "flatten":
        return (int(np.prod(shape)),)
    return shape


def layer_sizes(stages: Sequence[Stage], shapes: Sequence[tuple[Shape, Shape]]) -> list[tuple[int, int]]:
    """(rows without bias, columns) of the weight matrix of every stage on tiles."""
    return [(st.kh * st.kw * i[0], st.n) if st.kind == "conv" else (i[0], st.n)
            for st, (i, _) in zip(stages, shapes) if st.on_tiles]


# -- im2col and pooling (periphery) --------------------------------------------------------------
def im2col(x: np.ndarray, kh: int, kw: int, stride: int = 1, pad: int = 0) -> np.ndarray:
    """Patches (batch * Ho * Wo, C * kh * kw) of ``x`` (batch, C, H, W): rows ordered by sample,
    then output row, then output column; columns channel-major (``c, i, j``)."""
    b, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad))) if pad else x
    ho, wo = (h + 2 * pad - kh) // stride + 1, (w + 2 * pad - kw) // stride + 1
    win = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::stride, ::stride][:, :, :ho, :wo]
    return win.transpose(0, 2, 3, 1, 4, 5).reshape(b * ho * wo, c * kh * kw)


def col2im(cols: np.ndarray, shape: Shape, kh: int, kw: int, stride: int = 1, pad: int = 0) -> np.ndarray:
    """The adjoint of :func:`im2col`: patch values summed back into (batch, C, H, W) ``shape``."""
    b, c, h, w = shape
    ho, wo = (h + 2 * pad - kh) // stride + 1, (w + 2 * pad - kw) // stride + 1
    out = np.zeros((b, c, h + 2 * pad, w + 2 * pad))
    p = cols.reshape(b, ho, wo, c, kh, kw)
    for i in range(kh):
        for j in range(kw):
            out[:, :, i:i + stride * ho:stride, j:j + stride * wo:stride] += p[:, :, :, :, i, j].transpose(0, 3, 1, 2)
    return out[:, :, pad:pad + h, pad:pad + w]


def _windows(x: np.ndarray, k: int) -> np.ndarray:
    b, c, h, w = x.shape
    return x.reshape(b, c, h // k, k, w // k, k)


def pool_forward(x: np.ndarray, kind: str, k: int) -> np.ndarray:
    """Max or average over non-overlapping ``k x k`` windows of (batch, C, H, W)."""
    win = _windows(x, k)
    return win.max(axis=(3, 5)) if kind == "maxpool" else win.mean(axis=(3, 5))


def pool_backward(x: np.ndarray, y: np.ndarray, dy: np.ndarray, kind: str, k: int) -> np.ndarray:
    """Error of the pooling input ``x`` from the error ``dy`` of its output ``y``: average pooling
    spreads ``dy / k^2`` over the window, max pooling routes ``dy`` to the window's maximum (the
    first one on ties)."""
    if kind == "avgpool":
        return np.repeat(np.repeat(dy, k, axis=2), k, axis=3) / (k * k)
    b, c, h, w = x.shape
    win = _windows(x, k).transpose(0, 1, 2, 4, 3, 5).reshape(b, c, h // k, w // k, k * k)
    first = np.argmax(win, axis=-1)
    mask = np.zeros_like(win)
    np.put_along_axis(mask, first[..., None], 1.0, axis=-1)
    out = mask * dy[..., None]
    return out.reshape(b, c, h // k, w // k, k, k).transpose(0, 1, 2, 4, 3, 5).reshape(b, c, h, w)


# -- one chain, two kinds of matrix product (tiles or software) ---------------------------------
Affine = Callable[[int, np.ndarray], np.ndarray]
"""``affine(k, a)``: pre-activations (rows, n_out) of tile layer ``k`` for inputs (rows, n_in)."""


@dataclass
class ChainCache:
    """What the backward pass needs: every stage's input and output, and per tile layer its
    input rows (patches for conv) and pre-activations (batch, ...) as the stage outputs them."""

    acts: list[np.ndarray]
    rows: list[np.ndarray]
    pre: list[np.ndarray]
    probs: np.ndarray


def chain_forward(stages: Sequence[Stage], x: np.ndarray, affine: Affine, input_shape: Shape,
                  output: str = "softmax") -> ChainCache:
    """Run the chain on ``x`` (batch, features); the last stage's output goes through ``output``."""
    a = np.asarray(x, float).reshape((len(x), *input_shape))
    acts, rows, pre = [a], [], []
    for st in stages:
        if st.kind == "conv":
            b, _, h, w = a.shape
            ho, wo = (h + 2 * st.pad - st.kh) // st.stride + 1, (w + 2 * st.pad - st.kw) // st.stride + 1
            cols = im2col(a, st.kh, st.kw, st.stride, st.pad)
            rows.append(cols)
            a = affine(len(pre), cols).reshape(b, ho, wo, st.n).transpose(0, 3, 1, 2)
            pre.append(a)
        elif st.kind == "dense":
            rows.append(a)
            a = affine(len(pre), a)
            pre.append(a)
        elif st.kind in POOLS:
            a = pool_forward(a, st.kind, st.kh)
        elif st.kind == "flatten":
            a = a.reshape(len(a), -1)
        else:
            a = activate(a, st.kind)
        acts.append(a)
    probs = softmax(a) if output == "softmax" else activate(a, output)
    return ChainCache(acts, rows, pre, probs)


def chain_backward(stages: Sequence[Stage], cache: ChainCache, delta: np.ndarray,
                   back: Callable[[int, np.ndarray], np.ndarray] | None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per tile layer the gradient factors ``(rows with the bias input 1, delta)`` for the error
    ``delta`` at the chain's output (already divided by the batch size). ``back(k, d)``: ``W_k d``
    of tile layer ``k`` without the bias row (the transposed read); None for software."""
    k = len(cache.pre)
    out: list[tuple[np.ndarray, np.ndarray]] = []
    for s in range(len(stages) - 1, -1, -1):
        st, a_in, a_out = stages[s], cache.acts[s], cache.acts[s + 1]
        if st.on_tiles:
            k -= 1
            rows = cache.rows[k]
            d2 = delta.transpose(0, 2, 3, 1).reshape(-1, st.n) if st.kind == "conv" else delta
            out.append((np.concatenate([rows, np.ones((len(rows), 1))], axis=1), d2))
            if k == 0 or s == 0:
                break
            d_rows = back(k, d2) if back is not None else None
            if d_rows is None:
                raise ConfigError("the error of an inner layer needs the transposed read")
            delta = col2im(d_rows, a_in.shape, st.kh, st.kw, st.stride, st.pad) if st.kind == "conv" else d_rows
        elif st.kind in POOLS:
            delta = pool_backward(a_in, a_out, delta, st.kind, st.kh)
        elif st.kind == "flatten":
            delta = delta.reshape(a_in.shape)
        else:
            delta = delta * activation_slope(a_in, a_out, st.kind)
    return out[::-1]


def tile_stage_activations(stages: Sequence[Stage]) -> list[str]:
    """The activation after every tile layer but the last (``identity`` when none follows)."""
    out, idx = [], [i for i, st in enumerate(stages) if st.on_tiles]
    for i in idx[:-1]:
        nxt = stages[i + 1] if i + 1 < len(stages) else None
        out.append(nxt.kind if nxt is not None and nxt.kind in LAYER_ACTIVATIONS else "identity")
    return out


# -- the network on tiles ------------------------------------------------------------------------
def glorot(sizes: Sequence[tuple[int, int]], fan_out: Sequence[int], rng: np.random.Generator,
           w_max: float) -> list[np.ndarray]:
    """Glorot-uniform weights (Glorot and Bengio, AISTATS 2010; fan-out of a conv layer is
    ``F kh kw``), bias rows 0, clipped to +-w_max."""
    out = []
    for (n_in, n_out), fo in zip(sizes, fan_out):
        limit = min(np.sqrt(6.0 / (n_in + fo)), w_max)
        w = np.zeros((n_in + 1, n_out))
        w[:n_in] = rng.uniform(-limit, limit, size=(n_in, n_out))
        out.append(w)
    return out


class ConvNetwork(TileNetwork):
    """A chain of conv, pooling, flatten, activation and dense stages whose conv and dense layers
    sit on tiles (module doc). It offers what the training loop and the optimizers use of
    :class:`~memcircuit.train.network.Network`: ``layers`` (the tile layers), ``cfg``,
    :meth:`forward`, :meth:`backward` and what :class:`~memcircuit.train.network.TileNetwork` gives."""

    def __init__(self, stages: Sequence[Stage], input_shape: Shape, cfg: MappingConfig, factory: TileFactory,
                 rng: np.random.Generator, *, n_classes: int | None = None, weights: list[np.ndarray] | None = None,
                 parallel_tiles: int = 1, w_max: Sequence[float] | None = None) -> None:
        self.stages, self.input_shape = list(stages), tuple(int(s) for s in input_shape)
        self.shapes = plan(self.stages, self.input_shape, n_classes)
        self.cfg = cfg
        self.sizes = layer_sizes(self.stages, self.shapes)
        self.activations = tile_stage_activations(self.stages)
        scales = [cfg.w_max] * len(self.sizes) if w_max is None else [float(w) for w in w_max]
        if len(scales) != len(self.sizes) or not all(np.isfinite(w) and w > 0 for w in scales):
            raise ConfigError(f"w_max needs one value > 0 per tile layer ({len(self.sizes)}), got {list(w_max or [])}")
        fan_out = [st.n * st.kh * st.kw if st.kind == "conv" else st.n for st in self.stages if st.on_tiles]
        w0 = weights if weights is not None else glorot(self.sizes, fan_out, rng, cfg.w_max)
        self.pool = TilePool(parallel_tiles)
        self.layers = [MappedLayer(n_in, n_out, replace(cfg, w_max=wm), factory, w, self.pool)
                       for (n_in, n_out), w, wm in zip(self.sizes, w0, scales)]

    def forward(self, x: np.ndarray) -> ChainCache:
        """Forward reads of a batch ``x`` (batch, features): one read per sample and position."""
        return chain_forward(self.stages, x, lambda k, a: self.layers[k].forward(a), self.input_shape)

    def backward(self, cache: ChainCache, y: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per tile layer the gradient factors ``(x, delta)`` (see
        :meth:`memcircuit.train.network.Network.backward`); for a conv layer the rows are the
        patches of every position of every sample, so ``x^T delta`` sums over positions."""
        return chain_backward(self.stages, cache, output_error(cache.probs, y),
                              lambda k, d: self.layers[k].backward(d))


def check_spec(spec: str, n_features: int, n_classes: int) -> tuple[Shape, list[Stage], list[tuple[int, int]]]:
    """(input shape, stages, tile-layer sizes) of a model spec for a data set of ``n_features``
    and ``n_classes``, the whole spec checked (one :class:`ConfigError` line)."""
    shape, stages = parse_spec(spec, n_features)
    if int(np.prod(shape)) != n_features:
        raise ConfigError(f"model spec {spec!r}: input {'x'.join(map(str, shape))} has {int(np.prod(shape))} values "
                          f"but the data set has {n_features} features per sample")
    return shape, stages, layer_sizes(stages, plan(stages, shape, n_classes, where=f"model spec {spec!r}"))


def conv_network(spec: str, n_features: int, n_classes: int, cfg: MappingConfig, factory: TileFactory,
                 rng: np.random.Generator, parallel_tiles: int = 1) -> ConvNetwork:
    """The :class:`ConvNetwork` of a model spec for a data set of ``n_features`` and ``n_classes``."""
    shape, stages, _ = check_spec(spec, n_features, n_classes)
    return ConvNetwork(stages, shape, cfg, factory, rng, n_classes=n_classes, parallel_tiles=parallel_tiles)
