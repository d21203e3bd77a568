"""``python -m memcircuit.solvers.native``: build the native CHOLMOD solver now (scripts/setup.sh),
failing with the compiler's message."""

import sys

from memcircuit.solvers.native import build

print(f"[setup] native CHOLMOD solver: {build()}", file=sys.stderr)
