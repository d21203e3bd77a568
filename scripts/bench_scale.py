#!/usr/bin/env python
"""Array-scale reads: the numeric solver's sparse factorisations side by side, fixed-state reads
as products, thread settings, and spice evaluation of large batches.

For every size N (an N x N tile of random conductances, 1 kohm .. 1 Mohm, 2.5 ohm wire segments,
ideal sense amplifiers), each method runs in a fresh child process (so its peak memory is its
own) on the same matrices:

* ``cholmod``: CHOLMOD (nested dissection, ordering computed once per topology) through
  :class:`memcircuit.solvers.nodal.NodalNetwork`; ``splu``: scipy's SuperLU of the same matrix.
  Reads solve only what the driven line ends reach and the unknowns the sensed currents use
  (``terminals_only``, as tiles read); the same 100 reads are also solved in full with the same
  factor, and both are printed side by side after the table.
* setup: network construction + first factorisation (CHOLMOD: including the symbolic analysis);
  new state: a second conductance matrix on the same topology (numeric factorisation only) and
  100 reads of it. The target ratio is ``cholmod / splu`` of "new state + 100 reads".
* product: building W (min(rows, cols) solves) and the per-input cost of ``V @ W^T``, against one
  single-input solve.
* ``spice`` (sizes up to ``--spice-max``): the same tile read in ngspice; the largest difference
  from numeric relative to the largest current.

Also: the per-input cost with 1 and 2 BLAS threads (``MEMCIRCUIT_BLAS_THREADS``) at one size, and
a spice tile reading 100 and 2,000 inputs on one conductance state. Times are wall-clock seconds
(``perf_counter``) and CPU seconds of the process; the machine may be shared, so compare the
ratios of one run. Usage::

    .venv/bin/python scripts/bench_scale.py                          # 64 .. 512
    .venv/bin/python scripts/bench_scale.py --sizes 64,128,256,512,1024 --spice-max 128
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

R_WIRE = 2.5
BATCH = 100


def _case(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    g1 = rng.uniform(1e-6, 1e-3, (n, n))
    g2 = rng.uniform(1e-6, 1e-3, (n, n))
    v = rng.uniform(-0.2, 0.2, (BATCH, n))
    return g1, g2, v


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _since(t0: tuple[float, float]) -> tuple[float, float]:
    t1 = _clock()
    return t1[0] - t0[0], t1[1] - t0[1]


def child(n: int, method: str) -> dict:
    """One size and one factorisation method in this process."""
    from memcircuit.circuits import CrossbarSpec
    from memcircuit.circuits.netlists import read_probes
    from memcircuit.threads import limit_threads
    from memcircuit.tiles.numeric import crossbar_network, solve_block

    limit_threads()
    g1, g2, v = _case(n, n)
    out: dict = {"n": n, "method": method}
    t0 = _clock()
    spec = CrossbarSpec(n, n, r_wire=R_WIRE)
    sensed = read_probes(spec).sensed
    net = crossbar_network(spec, "forward", g=g1, factor_method=method)
    net.linear_factor()
    out["setup"] = _since(t0)
    t0 = _clock()
    net.set_cells(g=g2)
    f = net.linear_factor()
    out["factor"] = _since(t0)
    t0 = _clock()
    chunk = solve_block(net.topo.n)  # as NumericTile reads
    currents = np.concatenate([net.solve(v[k:k + chunk], terminals_only=True).values(sensed)
                               for k in range(0, v.shape[0], chunk)])
    out["reads"] = _since(t0)
    out["new_state_plus_reads"] = [a + b for a, b in zip(out["factor"], out["reads"])]
    if method != "splu":  # the same reads with full forward and backward solves, same factor
        t0 = _clock()
        full = np.concatenate([net.solve(v[k:k + chunk]).values(sensed) for k in range(0, v.shape[0], chunk)])
        out["reads_full"] = _since(t0)
        out["pruned_vs_full"] = float(np.max(np.abs(currents - full)) / np.max(np.abs(full)))
    rhs = -net._linear_currents(None, net._terminals(v[:1].T))
    t0 = _clock()
    f.solve(rhs)
    out["one_solve"] = _since(t0)
    if method != "splu":
        t0 = _clock()
        w = net.effective_matrices(sensed)[0]
        out["w_build"] = _since(t0)
        big = np.random.default_rng(1).uniform(-0.2, 0.2, (2000, n))
        t0 = _clock()
        big @ w.T
        out["product_per_input"] = [x / big.shape[0] for x in _since(t0)]
        out["product_vs_solve"] = float(np.max(np.abs(v @ w.T - currents)) / np.max(np.abs(currents)))
        np.save(os.environ["BENCH_OUT"], currents)
    out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["factor_kind"] = f.method
    return out


def spice_child(n: int) -> dict:
    from memcircuit.tiles import make_tile

    g1, g2, v = _case(n, n)
    out: dict = {"n": n}
    with make_tile("spice", n, n, g=g2, r_wire=R_WIRE, timeout=3600) as tile:
        tile.solver.sweep(v[:1], "forward")  # worker started, netlist parsed (as in a training loop)
        t0 = _clock()
        currents = tile.solver.sweep(v[:10], "forward")
        out["per_input"] = _since(t0)[0] / 10
    ref = np.load(os.environ["BENCH_OUT"])[:10]
    out["vs_numeric"] = float(np.max(np.abs(currents - ref)) / np.max(np.abs(ref)))
    out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def spice_batches() -> dict:
    """A 32 x 32 linear tile at spice: 100 and 2,000 inputs on one state, and the product against
    ngspice's per-input sweep."""
    from memcircuit.tiles import make_tile

    rng = np.random.default_rng(3)
    g = rng.uniform(1e-6, 1e-3, (32, 32))
    v = rng.uniform(-0.2, 0.2, (2000, 32))
    out: dict = {}
    for count in (100, 2000):
        with make_tile("spice", 32, 32, g=g, r_wire=R_WIRE) as tile:
            tile.read(v[:1])  # the worker started and the read netlist parsed, as in a training loop
            tile.set_conductances(g)  # a new state: nothing cached
            t0 = time.perf_counter()
            product = tile.read(v[:count])
            out[f"{count}_inputs"] = time.perf_counter() - t0
            out[f"{count}_path"] = tile.read_info["path"]
            if count == 100:
                t0 = time.perf_counter()
                swept = tile.solver.sweep(v[:count], "forward")
                out["100_inputs_swept"] = time.perf_counter() - t0
                out["product_vs_sweep"] = float(np.max(np.abs(product - swept)) / np.max(np.abs(swept)))
    return out


def _run(args: list[str], env: dict | None = None) -> dict:
    proc = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})})
    if proc.returncode:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="64,128,256,512")
    ap.add_argument("--spice-max", type=int, default=128, help="largest size also read in ngspice")
    ap.add_argument("--splu-max", type=int, default=512, help="largest size also factorised by splu")
    ap.add_argument("--threads-size", type=int, default=256, help="size of the BLAS-threads comparison (0: skip)")
    ap.add_argument("--child", nargs=2, metavar=("N", "METHOD"), help=argparse.SUPPRESS)
    ap.add_argument("--spice-child", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--spice-batches", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(int(args.child[0]), args.child[1])))
        return
    if args.spice_child:
        print(json.dumps(spice_child(args.spice_child)))
        return
    if args.spice_batches:
        print(json.dumps(spice_batches()))
        return

    print(f"# {platform.node()} {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"{R_WIRE} ohm segments, {BATCH} reads per state; wall s (cpu s)\n")
    print("| N | method | setup | new state + 100 reads | ratio to splu | per input, product | W build "
          "| product vs one solve | peak MB | spice per input | spice vs numeric |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    scratch = os.path.join(tempfile.mkdtemp(prefix="bench_scale-"), "currents.npy")
    pruned = []
    for n in (int(s) for s in args.sizes.split(",")):
        methods = ("cholmod", "splu") if n <= args.splu_max else ("cholmod",)
        res = {m: _run(["--child", str(n), m], {"BENCH_OUT": scratch}) for m in methods}
        spice = _run(["--spice-child", str(n)], {"BENCH_OUT": scratch}) if n <= args.spice_max else {}
        for m in methods:
            r = res[m]
            if "error" in r:
                print(f"| {n} | {m} | failed: {r['error']} |||||||||")
                continue
            ratio = ""
            if m == "cholmod" and "error" not in res.get("splu", {"error": ""}):
                ratio = f"{r['new_state_plus_reads'][0] / res['splu']['new_state_plus_reads'][0]:.2f}x"
            prod = (f"{r['product_per_input'][0] * 1e6:.1f} us" if "product_per_input" in r else "")
            wb = f"{r['w_build'][0]:.2f} s" if "w_build" in r else ""
            speed = f"{r['one_solve'][0] / r['product_per_input'][0]:.0f}x" if "product_per_input" in r else ""
            sp_in = f"{spice['per_input']:.3f} s" if m == "cholmod" and "per_input" in spice else ""
            sp_err = f"{spice['vs_numeric']:.1e}" if m == "cholmod" and "vs_numeric" in spice else ""
            if "reads_full" in r:
                pruned.append(f"- {n} x {n}: pruned {r['reads'][0]:.2f} ({r['reads'][1]:.2f}), full "
                              f"{r['reads_full'][0]:.2f} ({r['reads_full'][1]:.2f}), ratio "
                              f"{r['reads'][1] / r['reads_full'][1]:.2f}x (CPU); largest difference "
                              f"{r['pruned_vs_full']:.1e} of the largest current")
            print(f"| {n} | {r['factor_kind']} | {r['setup'][0]:.2f} ({r['setup'][1]:.2f}) "
                  f"| {r['new_state_plus_reads'][0]:.2f} ({r['new_state_plus_reads'][1]:.2f}) | {ratio} | {prod} "
                  f"| {wb} | {speed} | {r['peak_mb']:.0f} | {sp_in} | {sp_err} |", flush=True)
    if pruned:
        print("\nThe 100 reads of a new state, pruned against full solves with the same factor (wall s (cpu s)):\n")
        print("\n".join(pruned))
    if args.threads_size:
        n = args.threads_size
        print(f"\nBLAS threads at {n} x {n} (CHOLMOD new state + 100 reads, wall s (cpu s)):\n")
        for threads in ("1", "2"):
            r = _run(["--child", str(n), "cholmod"], {"BENCH_OUT": scratch, "MEMCIRCUIT_BLAS_THREADS": threads})
            if "error" in r:
                print(f"- {threads} thread(s): failed: {r['error']}")
            else:
                print(f"- {threads} thread(s): {r['new_state_plus_reads'][0]:.2f} ({r['new_state_plus_reads'][1]:.2f})")
    r = _run(["--spice-batches"])
    print("\nspice, 32 x 32 linear tile, one new conductance state:\n")
    if "error" in r:
        print(f"failed: {r['error']}")
    else:
        print(f"- 100 inputs: {r['100_inputs']:.2f} s ({r['100_path']}); 2,000 inputs: {r['2000_inputs']:.2f} s "
              f"({r['2000_path']}); ratio {r['2000_inputs'] / r['100_inputs']:.2f}x")
        print(f"- 100 inputs as one sweep point each: {r['100_inputs_swept']:.2f} s; product vs sweep "
              f"{r['product_vs_sweep']:.1e} (relative to the largest current)")
    shutil.rmtree(os.path.dirname(scratch), ignore_errors=True)


if __name__ == "__main__":
    main()
