"""Docstrings, ``--help`` texts, comments and the docs name only files that exist in the project.

A path counts when it starts with a folder of the project (``docs/``, ``models/``, ``scripts/``,
``tests/``, ``netlists/``, ``requirements/``, ``memcircuit/``) or with a package of memcircuit
(``tiles/energy.py``, as docs/DESIGN.md writes them); it exists when it is a file under the
project root or under ``memcircuit/``. Patterns (``models/*.va``, ``devices/<family>.py``) are
not paths.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from memcircuit import LAYERS

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("docs", "models", "scripts", "tests", "netlists", "requirements", "memcircuit",
           *(name for names in LAYERS[:-1] for name in names))
PATH = re.compile(r"(?<![\w./-])((?:" + "|".join(FOLDERS)
                  + r")/[\w./-]*\w\.(?:md|va|py|cir|sp|txt|ya?ml|json|sh|npz|csv|toml|cfg))\b")
SOURCES = sorted([*(ROOT / "memcircuit").rglob("*.py"), *(ROOT / "scripts").glob("*.py"),
                  *(ROOT / "docs").glob("*.md"), ROOT / "README.md"])


def named_paths(text: str) -> list[str]:
    return [m.group(1) for m in PATH.finditer(text)]


def test_the_pattern_finds_paths_and_skips_patterns():
    text = ("see docs/DESIGN.md, `models/*.va`, devices/<family>.py, tiles/energy.py and "
            "src/spicelib/devices/mos1/mos1load.c; run scripts/bench_tile.py.")
    assert named_paths(text) == ["docs/DESIGN.md", "tiles/energy.py", "scripts/bench_tile.py"]


@pytest.mark.parametrize("source", SOURCES, ids=[p.relative_to(ROOT).as_posix() for p in SOURCES])
def test_named_files_exist(source):
    missing = [path for path in named_paths(source.read_text())
               if not (ROOT / path).is_file() and not (ROOT / "memcircuit" / path).is_file()]
    assert not missing, f"{source.relative_to(ROOT)} names files the project does not have: {missing}"


def test_help_texts_name_existing_files():
    """Every command's ``--help`` (the text users read, assembled by click)."""
    import click

    from memcircuit.cli import cli

    def helps(command: click.Command, ctx: click.Context):
        yield command.get_help(ctx)
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                yield from helps(sub, click.Context(sub, info_name=name, parent=ctx))

    texts = list(helps(cli, click.Context(cli, info_name="memcircuit")))
    assert len(texts) > 10
    missing = {path for text in texts for path in named_paths(text)
               if not (ROOT / path).is_file() and not (ROOT / "memcircuit" / path).is_file()}
    assert not missing, missing
