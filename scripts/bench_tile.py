#!/usr/bin/env python
"""Tile-read benchmark: a batch of reads of one tile with wire resistance at every fidelity,
side by side in one run, against the naive approach and against the floor.

* naive: a PySpice ``Circuit`` rebuilt and simulated (operating point) for every input with
  ngspice's default solver (no KLU), through PySpice's own shared-ngspice simulator. It takes
  seconds per input, so a round runs it on one input (the next one each round), in a fresh
  process (:func:`naive_fresh`: PySpice slows down with every circuit it has simulated).
* floor: the nodal matrix of the same network factorised once with scipy's SuperLU (defaults),
  then one solve per input (matrix assembly not counted).
* ideal: ``V @ G``; numeric: our nodal solver (tile construction included); spice and hybrid:
  ngspice reads (one DC sweep per batch in a libngspice worker, the drivers external sources
  fed by the worker; the worker is started and the read netlist parsed before timing, as a
  tile in a training loop has them), with 1 and 2 parallel workers; and the earlier scheme, a
  netlist per batch with the inputs in ``pwl(V(idx), ...)`` tables, parsed for every batch.
* Every method runs once per round, ``--repeat`` rounds, and its fastest round is kept: a slow
  spell of the machine falls on all methods alike.

Prints ngspice's own counters for one batch (Newton iterations per input, matrix size, fill-in,
milliseconds per refactorisation and the share of the analysis they take) and a Markdown table
(per-input times, ratios to naive and to the floor, and the largest relative difference of each
fidelity's currents from spice). Usage::

    .venv/bin/python scripts/bench_tile.py                 # 64 x 64, 100 inputs
    .venv/bin/python scripts/bench_tile.py --size 32 --repeat 3
"""

from __future__ import annotations

import argparse
import logging
import platform
import time

import numpy as np
import scipy.sparse.linalg as spla


def naive_read(g: np.ndarray, v: np.ndarray, r_wire: float) -> np.ndarray:
    """Rebuild a PySpice Circuit for every input and run an operating point (default solver)."""
    logging.getLogger("PySpice").setLevel(logging.CRITICAL)
    from PySpice.Spice.Netlist import Circuit

    rows, cols = g.shape
    out = np.zeros((v.shape[0], cols))
    for b in range(v.shape[0]):
        c = Circuit("naive crossbar")
        for i in range(rows):
            c.V(f"row{i}", f"in{i}", c.gnd, float(v[b, i]))
            for j in range(cols):
                left = f"in{i}" if j == 0 else f"r{i}_{j - 1}"
                c.R(f"r{i}_{j}", left, f"r{i}_{j}", r_wire)
                c.R(f"x{i}_{j}", f"r{i}_{j}", f"c{i}_{j}", float(1.0 / g[i, j]))
                if i:
                    c.R(f"c{i}_{j}", f"c{i - 1}_{j}", f"c{i}_{j}", r_wire)
        for j in range(cols):
            c.R(f"b{j}", f"c{rows - 1}_{j}", f"o{j}", r_wire)
            c.V(f"sense{j}", f"o{j}", c.gnd, 0.0)
        analysis = c.simulator(simulator="ngspice-shared").operating_point()
        for j in range(cols):
            out[b, j] = float(np.asarray(analysis.branches[f"vsense{j}"])[0])
    return out


def naive_fresh(g: np.ndarray, v: np.ndarray, r_wire: float) -> tuple[np.ndarray, float]:
    """:func:`naive_read` of one input in a fresh Python process: (currents, seconds inside it).

    PySpice keeps every circuit it simulated in its one libngspice instance, so in a long-lived
    process each naive input is slower than the last (1.8, 4.0, 5.2 s for three in a row); a
    fresh process per round measures the rebuild + simulate itself. PySpice's libngspice is
    started before the clock, as a naive script's first input would have paid it once."""
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "case.npz"
        np.savez(path, g=g, v=v, r_wire=r_wire)
        subprocess.run([sys.executable, __file__, "--naive-child", str(path)], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with np.load(path) as out:
            return out["currents"], float(out["seconds"])


def _naive_child(path: str) -> None:
    with np.load(path) as case:
        g, v, r_wire = case["g"], case["v"], float(case["r_wire"])
    naive_read(np.ones((1, 1)) * 1e-4, np.zeros((1, 1)), 1.0)  # start PySpice's libngspice
    t0 = time.perf_counter()
    currents = naive_read(g, v, r_wire)
    np.savez(path, currents=currents, seconds=time.perf_counter() - t0)


def floor_read(g: np.ndarray, v: np.ndarray, r_wire: float) -> tuple[np.ndarray, float, float]:
    """One scipy sparse LU of the nodal matrix, then one solve per input: (currents, factor s, solve s)."""
    from memcircuit.circuits.netlists import read_probes
    from memcircuit.circuits.spec import CrossbarSpec
    from memcircuit.solvers.nodal import Solution
    from memcircuit.tiles.numeric import crossbar_network

    spec = CrossbarSpec(*g.shape, r_wire=r_wire)
    net = crossbar_network(spec, "forward", g=g)
    t0 = time.perf_counter()
    lu = spla.splu(net.y_uu.tocsc())
    t1 = time.perf_counter()
    x = np.empty((net.topo.n, v.shape[0]))
    for b in range(v.shape[0]):
        rhs = -(net.y_ut @ net._terminals(v[b:b + 1].T))[:, 0]
        x[:, b] = lu.solve(rhs)
    t2 = time.perf_counter()
    currents = Solution(net, x, net._terminals(v.T)).values(read_probes(spec).sensed)
    return currents, t1 - t0, t2 - t1


FLOOR = "floor (scipy splu + solves)"
NAIVE = "naive (PySpice rebuild + op, default solver)"


def per_batch_netlist(tile, v: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The earlier scheme: a netlist that holds the batch's inputs (``pwl(V(idx), ...)`` drivers),
    written and parsed for every batch (a new order of the inputs is a new text)."""
    from memcircuit.circuits.netlists import read_analysis, read_circuit, read_probes, sensed_current

    perm = rng.permutation(v.shape[0])
    circuit = read_circuit(tile.spec, tile.cells(), v[perm], base=tile.solver.base_circuit())
    result = tile.engine(0).run(circuit, read_analysis(v.shape[0]))
    out = np.empty((v.shape[0], tile.cols))
    out[perm] = sensed_current(tile.spec, np.stack([result[p] for p in read_probes(tile.spec).sensed], axis=1))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=64, help="rows = cols of the tile (default 64)")
    ap.add_argument("--batch", type=int, default=100, help="inputs per read batch (default 100)")
    ap.add_argument("--r-wire", type=float, default=2.5, help="ohm per wire segment (default 2.5)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-hybrid", action="store_true", help="hybrid reads are spice reads; skip timing them")
    ap.add_argument("--repeat", type=int, default=5,
                    help="rounds: every method once per round (naive on one input), the fastest kept (default 5)")
    args = ap.parse_args()

    from memcircuit.tiles import make_tile

    n, batch, r_wire = args.size, args.batch, args.r_wire
    rng = np.random.default_rng(args.seed)
    g = rng.uniform(1e-6, 1e-4, (n, n))
    v = rng.uniform(-0.2, 0.2, (batch, n))
    rows = []  # (label, inputs, seconds, currents or None)

    reps = max(1, args.repeat)

    def shuffled(tile):
        """Read the batch in a new order (new inputs, as every batch of a training loop): the
        loaded netlist stays, only the driver values are sent."""
        perm = rng.permutation(batch)
        out = np.empty((batch, n))
        out[perm] = tile.read(v[perm])
        return out

    tiles = {}
    methods = [  # (label, function of nothing -> currents); floor and naive also return their own timing
        ("ideal (G^T V)", lambda: v @ g),
        (FLOOR, lambda: floor_read(g, v, r_wire)),
        ("numeric (own nodal solver)", lambda: make_tile("numeric", n, n, g=g, r_wire=r_wire).read(v)),
    ]
    for label, fid, workers in (("spice, 1 worker", "spice", 1), ("spice, 2 workers", "spice", 2),
                                ("hybrid, 2 workers", "hybrid", 2)):
        if fid == "hybrid" and args.skip_hybrid:
            continue
        tiles[label] = tile = make_tile(fid, n, n, g=g, r_wire=r_wire, workers=workers)
        for k in range(workers):
            _ = tile.engine(k).worker_pid  # start the ngspice workers before timing
        tile.read(v[:1])  # parse the read netlist once, as a loaded tile has
        methods.append((label, lambda tile=tile: shuffled(tile)))
        if label == "spice, 1 worker":  # the earlier scheme, in a worker of its own
            tiles["pwl"] = old = make_tile("spice", n, n, g=g, r_wire=r_wire)
            _ = old.engine(0).worker_pid
            methods.append(("spice, 1 worker, one netlist per batch (inputs in pwl tables)",
                            lambda old=old: per_batch_netlist(old, v, rng)))

    naive_done: list[np.ndarray] = []
    methods.append((NAIVE, lambda: naive_fresh(g, v[len(naive_done) % batch][None, :], r_wire)))

    # Rounds: every method once per round, the fastest of the rounds kept. Interleaving puts a
    # slow spell of the machine on all methods alike, so the ratios hold.
    best: dict[str, tuple[float, np.ndarray]] = {}
    t_fact = t_solve = np.inf
    for _ in range(reps):
        for label, fn in methods:
            t0 = time.perf_counter()
            out = fn()
            seconds = time.perf_counter() - t0
            if label == FLOOR:
                out, t_f, t_s = out
                seconds = t_f + t_s  # matrix assembly not counted
                if seconds < t_fact + t_solve:
                    t_fact, t_solve = t_f, t_s
            if label == NAIVE:
                out, seconds = out  # timed inside its own process
            if label not in best or seconds < best[label][0]:
                best[label] = (seconds, out)
            if label == NAIVE:
                naive_done.append(out)
    for label, _ in methods:
        if label == NAIVE:  # the fastest input's time; the currents of all inputs run (0, 1, ...)
            rows.append((label, 1, best[label][0], np.concatenate(naive_done)))
        else:
            rows.append((label, batch, *best[label]))
    spice_i = best["spice, 1 worker"][1]

    spice_tile = tiles["spice, 1 worker"]
    before = spice_tile.engine(0).solver_stats()
    t0 = time.perf_counter()
    shuffled(spice_tile)
    t_counted = time.perf_counter() - t0
    stats = spice_tile.engine(0).solver_stats() - before
    for tile in tiles.values():
        tile.close()

    per_naive = best[NAIVE][0]
    per_floor = (t_fact + t_solve) / batch
    print(f"# Tile reads: {n} x {n}, r_wire = {r_wire} ohm, batch of {batch} inputs "
          f"(seed {args.seed}; {platform.python_version()}, {platform.machine()})")
    print(f"floor: factorisation {t_fact * 1e3:.1f} ms, {t_solve / batch * 1e3:.2f} ms per solve; "
          f"fastest of {reps} rounds per method\n")
    per_spice = best["spice, 1 worker"][0] / batch
    linear_algebra = stats.factor_s + stats.load_s + stats.solve_s
    print(f"ngspice's own counters for one more batch at spice (1 worker, {t_counted:.2f} s): "
          f"{stats.iterations} Newton iterations for {batch} inputs ({stats.iterations / batch:.2f} per input; "
          f"ngspice never accepts a point after one iteration), {stats.equations} equations, "
          f"{stats.nonzeros} non-zeros + {stats.fill_in} fill-in. Every iteration loads, refactorises "
          f"({stats.factor_ms_per_iteration:.2f} ms) and solves the matrix: "
          f"{linear_algebra / stats.analysis_s:.0%} of the analysis time, so one worker cannot go below "
          f"{linear_algebra / stats.analysis_s * per_spice / per_floor:.1f}x the floor "
          f"(the floor factorises once per batch)\n")
    print("| method | inputs per round | seconds (fastest round) | ms / input | speed-up vs naive | x floor "
          "| max rel. diff vs spice |")
    print("|---|---|---|---|---|---|---|")
    for label, inputs, seconds, cur in rows:
        per = seconds / inputs
        ref = spice_i[: cur.shape[0]]
        diff = float(np.max(np.abs(cur - ref)) / np.max(np.abs(ref)))
        print(f"| {label} | {inputs} | {seconds:.3f} | {per * 1e3:.2f} | {per_naive / per:,.0f}x | "
              f"{per / per_floor:.2f} | {diff:.1e} |")


if __name__ == "__main__":
    import sys

    if len(sys.argv) == 3 and sys.argv[1] == "--naive-child":
        _naive_child(sys.argv[2])
    else:
        main()
