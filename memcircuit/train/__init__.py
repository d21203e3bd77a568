"""In-situ training of MLPs on memristor crossbar tiles (issue 5).

:mod:`~memcircuit.train.datasets` (offline data sets, IDX reader), :mod:`~memcircuit.train.network`
(networks on tiles, periphery), :mod:`~memcircuit.train.optimizers` (gradient -> weight changes),
:mod:`~memcircuit.train.pulses` (weight changes -> pulse programs), :mod:`~memcircuit.train.loop`
(mini-batches, metrics, checkpoints, resume).
"""
