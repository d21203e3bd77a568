"""The package obeys its layers: no module imports a layer above its own.

The order is written once, in :data:`memcircuit.LAYERS`; ``docs/DESIGN.md`` draws the same order.
Every ``import`` and ``from ... import`` of every module counts, also those inside functions and
under ``TYPE_CHECKING``, and so does every string that names a module of the package
(``"memcircuit.train.jobs:train_job"``), which importlib would import just the same.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from memcircuit import LAYERS

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "memcircuit"
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}
BASE = len(LAYERS) - 1
MODULE_STRING = re.compile(r"memcircuit(\.\w+)+(:\w+)?")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(dotted: str) -> int:
    """Rank of the layer of ``memcircuit.<name>...``; the package itself (``__version__``,
    ``LAYERS``) is the foundation."""
    parts = dotted.split(".")
    if len(parts) == 1 or (parts[1].startswith("__") and parts[1] not in RANK) or parts[1] == "LAYERS":
        return BASE
    if parts[1] not in RANK:
        raise AssertionError(f"{dotted}: memcircuit.{parts[1]} is in no layer of memcircuit.LAYERS")
    return RANK[parts[1]]


def imported(path: Path) -> list[tuple[int, str]]:
    """``(line, dotted name)`` of everything ``path`` imports or names as a module of the package."""
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            out.append((node.lineno, source))
            # ``from memcircuit import processes`` imports the module memcircuit.processes
            out += [(node.lineno, f"{source}.{a.name}") for a in node.names if source == "memcircuit"]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and MODULE_STRING.fullmatch(node.value):
            out.append((node.lineno, node.value.partition(":")[0]))
    return [(line, name) for line, name in out if name == "memcircuit" or name.startswith("memcircuit.")]


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_every_module_belongs_to_a_layer():
    for path in MODULES:
        layer_of(module_name(path))


@pytest.mark.parametrize("path", MODULES, ids=[module_name(p) for p in MODULES])
def test_no_module_imports_a_layer_above_its_own(path):
    own = layer_of(module_name(path))
    upward = [f"{path.relative_to(ROOT)}:{line} imports {name}" for line, name in imported(path)
              if layer_of(name) < own]
    assert not upward, "\n".join(upward)


def test_the_scan_sees_imports_inside_functions_and_module_strings(tmp_path, monkeypatch):
    """The checker itself: a late import and a "module:function" string both count."""
    fake_root = tmp_path
    (fake_root / "memcircuit" / "netlist").mkdir(parents=True)
    source = fake_root / "memcircuit" / "netlist" / "x.py"
    source.write_text("def f():\n    from memcircuit.tiles import base\n\n"
                      "KIND = 'memcircuit.train.jobs:train_job'\nfrom . import ir\n")
    monkeypatch.setitem(globals(), "ROOT", fake_root)
    found = imported(source)
    assert (2, "memcircuit.tiles") in found
    assert (4, "memcircuit.train.jobs") in found
    assert (5, "memcircuit.netlist") in found
    assert [name for _, name in found if layer_of(name) < layer_of("memcircuit.netlist")] == [
        "memcircuit.tiles", "memcircuit.train.jobs"]


def test_design_md_draws_the_layers_in_the_same_order():
    text = (ROOT / "docs" / "DESIGN.md").read_text()
    block = text.split("## Layers", 1)[1].split("```")[1]
    drawn = [m.group(1) for m in re.finditer(r"^(\w+)/", block, re.MULTILINE)]
    assert drawn == [names[0] for names in LAYERS[:-1]]
    foundation = re.findall(r"(\w+)\.py", block)
    assert sorted(foundation) == sorted(LAYERS[-1])


def test_the_training_loop_talks_to_optimizers_only_through_their_interface():
    """Every ``self.optimizer.<name>`` of the loop is a member of the abstract ``Optimizer``."""
    from memcircuit.train.optimizers.base import Optimizer

    tree = ast.parse((PACKAGE / "train" / "loop.py").read_text())
    used = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Attribute) and node.value.attr == "optimizer"}
    assert {"setup", "attach", "step", "program", "state_dict", "load_state_dict"} <= used
    assert used <= set(dir(Optimizer)), used - set(dir(Optimizer))


#: probes that ask the platform, not an object of the package
PLATFORM_PROBES = {("train/loop.py", "setitimer")}


@pytest.mark.parametrize("layer", ["train", "tiles"])
def test_no_capability_probing_of_optimizers_updates_or_devices(layer):
    """``hasattr(x, "name")`` and ``getattr(x, "name", default)`` in train/ and tiles/ hide an
    interface: the base classes (``Optimizer``, ``DeviceModel``) state what every object has."""
    probes = []
    for path in sorted((PACKAGE / layer).rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and ((node.func.id == "hasattr" and len(node.args) == 2)
                         or (node.func.id == "getattr" and len(node.args) == 3))
                    and isinstance(node.args[1], ast.Constant)
                    and (rel, node.args[1].value) not in PLATFORM_PROBES):
                probes.append(f"{rel}:{node.lineno} {node.func.id}(..., {node.args[1].value!r})")
    assert not probes, "\n".join(probes)


def test_optimizers_reach_tiles_only_through_the_layer():
    """No ``layer.tiles[r][c]``, ``all_tiles()[k]``, dicts keyed by ``id(tile)`` or private
    attributes of tiles and layers in the optimizers: the layer's public methods (``device``,
    ``tile(r, c)``, ``map_tiles``, ``program``) are the way in."""
    found = []
    for path in sorted((PACKAGE / "train" / "optimizers").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            where = f"{path.name}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Attribute) and node.attr == "tiles":
                found.append(f"{where} .tiles")
            if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Call) \
                    and isinstance(node.value.func, ast.Attribute) and node.value.func.attr == "all_tiles":
                found.append(f"{where} all_tiles()[...]")
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "id":
                found.append(f"{where} id(...)")
            if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__") \
                    and isinstance(node.value, ast.Name) and node.value.id in ("layer", "tile", "net"):
                found.append(f"{where} {node.value.id}.{node.attr}")
    assert not found, "\n".join(found)
