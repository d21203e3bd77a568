"""MOSFETs of the periphery: model cards for ngspice and the level-1 equations in numpy.

The level-1 (Shichman-Hodges, IEEE JSSC 3(3), 1968) drain current is written here exactly as
ngspice's MOS1 model computes it at DC (``src/spicelib/devices/mos1/mos1load.c``), so that the
numeric solver and ngspice agree on 1T1R cells. The PTM 45 nm card (BSIM4, Zhao and Cao 2006)
is found among the ngspice examples or in ``$MEMCIRCUIT_PTM45`` (:func:`memcircuit.paths.ptm45_card`).
"""

from __future__ import annotations

import numpy as np

from memcircuit.circuits.spec import TransistorParams
from memcircuit.netlist import Model
from memcircuit.paths import ptm45_card as ptm45_card  # the card the generators include

LEVEL1_NMOS = "nacc"  # model name of the level-1 access transistor
PTM45_NMOS, PTM45_PMOS = "nmos", "pmos"  # the model names inside the PTM card (memcircuit.paths.ptm45_card)


def level1_model(p: TransistorParams, name: str = LEVEL1_NMOS) -> Model:
    """``.model`` card of the level-1 NMOS (no body effect, negligible junction leakage)."""
    return Model(name, "nmos", (("level", 1), ("vto", p.vto), ("kp", p.kp), ("lambda", p.lam),
                                ("gamma", 0.0), ("is", 1e-30)))


def level1_ids(vgs: np.ndarray, vds: np.ndarray, p: TransistorParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Drain current (A) for ``vds >= 0`` and its partials ``gm = dI/dVgs``, ``gds = dI/dVds`` (S).

    Cut-off for ``vgs <= vto``; saturation ``beta/2 (vgs-vto)^2 (1 + lam vds)`` for
    ``vds >= vgs - vto``; otherwise triode ``beta vds (vgs - vto - vds/2)(1 + lam vds)``.
    """
    beta = p.beta
    vgst = np.asarray(vgs, dtype=float) - p.vto
    vds = np.asarray(vds, dtype=float)
    on = vgst > 0
    sat = on & (vgst <= vds)
    lin = on & ~sat
    betap = beta * (1.0 + p.lam * vds)
    ids = np.where(sat, 0.5 * betap * vgst**2, np.where(lin, betap * vds * (vgst - 0.5 * vds), 0.0))
    gm = np.where(sat, betap * vgst, np.where(lin, betap * vds, 0.0))
    gds = np.where(sat, 0.5 * p.lam * beta * vgst**2,
                   np.where(lin, betap * (vgst - vds) + p.lam * beta * vds * (vgst - 0.5 * vds), 0.0))
    return ids, gm, gds


def level1_channel(vg: np.ndarray, vd: np.ndarray, vs: np.ndarray,
                   p: TransistorParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Channel current (A) from terminal ``d`` to terminal ``s`` for any polarity, and its partials
    with respect to ``v(d)`` and ``v(s)`` (S). The lower-potential terminal acts as the source,
    as in ngspice (its ``mode`` = -1 branch)."""
    vd, vs = np.broadcast_arrays(np.asarray(vd, dtype=float), np.asarray(vs, dtype=float))
    forward = vd >= vs
    src = np.where(forward, vs, vd)
    drn = np.where(forward, vd, vs)
    ids, gm, gds = level1_ids(vg - src, drn - src, p)
    # d ids / d v(drn) = gds ; d ids / d v(src) = -gm - gds
    d_drn, d_src = gds, -gm - gds
    current = np.where(forward, ids, -ids)
    d_vd = np.where(forward, d_drn, -d_src)
    d_vs = np.where(forward, d_src, -d_drn)
    return current, d_vd, d_vs
