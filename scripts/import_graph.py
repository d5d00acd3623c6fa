"""`python scripts/import_graph.py`: which parts of the package import which.

Prints one line per pair of parts (a sub-package such as ``training``, or a top-level
module such as ``model``) with the files behind the arrow, so a reviewer can see that
imports run one way (docs/architecture.md; `make lint` enforces it with import-linter).
Imports inside functions count too: they tie the parts all the same.
"""

from __future__ import annotations

import argparse
import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = "gpt_experiments"


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, module: str) -> set[str]:
    """Every ``gpt_experiments`` module that ``path`` imports, relative imports resolved."""
    found: set[str] = set()
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")[: len(module.split(".")) - node.level + is_package]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {name for name in found if name == PACKAGE or name.startswith(f"{PACKAGE}.")}


def part_of(module: str) -> str | None:
    """``gpt_experiments.training.callbacks.history`` -> ``training``; the package itself -> None."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def part_graph(root: Path) -> dict[tuple[str, str], set[str]]:
    """(importing part, imported part) -> the importing files."""
    edges: dict[tuple[str, str], set[str]] = defaultdict(set)
    known = {p.stem if p.is_file() else p.name for p in (root / PACKAGE).iterdir()}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        module = module_name(path, root)
        source = part_of(module)
        for imported in imported_modules(path, module):
            target = part_of(imported)
            if source and target in known and target != source:
                edges[(source, target)].add(str(path.relative_to(root)))
    return edges


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--files", action="store_true", help="list the importing files of each arrow")
    args = parser.parse_args()
    edges = part_graph(args.root)
    for (source, target), files in sorted(edges.items()):
        print(f"{source} -> {target}  ({len(files)} file{'s' * (len(files) != 1)})")
        if args.files:
            for name in sorted(files):
                print(f"    {name}")
    cycles = sorted({tuple(sorted(pair)) for pair in edges if pair[::-1] in edges})
    for a, b in cycles:
        print(f"cycle: {a} <-> {b}")


if __name__ == "__main__":
    main()
