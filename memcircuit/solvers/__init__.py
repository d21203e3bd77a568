"""Solver back ends for circuits described once in :mod:`memcircuit.netlist` and
:mod:`memcircuit.circuits`: sparse factorisations shared by every numeric solve."""

from memcircuit.solvers.factor import FACTOR_METHODS, Factorization, FactorPool, cholmod_available, factorize

__all__ = ["FACTOR_METHODS", "FactorPool", "Factorization", "cholmod_available", "factorize"]
