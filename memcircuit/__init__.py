"""memcircuit: SPICE-level co-simulation of memristive deep-learning hardware."""

__version__ = "0.1.0"

#: The layers of the package, top to bottom (``docs/DESIGN.md``, "Layers"): a module may import
#: its own layer and the layers below it, never one above. A name is a subpackage or a module at
#: the top of the package; the last layer is the foundation every layer uses. tests/test_layers.py
#: checks every import (and every "package.module" string) against this table.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("cli", "__main__"),
    ("plot",),
    ("infer",),
    ("train",),
    ("tiles",),
    ("solvers",),
    ("circuits",),
    ("devices",),
    ("spice",),
    ("netlist",),
    ("parallel",),
    ("errors", "units", "threads", "fileio", "processes", "resources", "paths", "fidelity"),
)
