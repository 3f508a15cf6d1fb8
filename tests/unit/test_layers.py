"""The layering of docs/design.md ("Layers"), held by the code: what each package may import, and
no import cycle anywhere. Read from the source (ast), so a lazy import inside a function counts too."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The table of docs/design.md: a package may import itself, these packages, and any third-party
# library, except `domain`, which imports the standard library alone.
MAY_IMPORT = {
    "domain": set(),
    "config": set(),
    "redis_queue": {"domain"},
    "postgres": {"domain"},
    "recovery": {"domain", "postgres", "redis_queue"},
    "web": {"domain", "config", "postgres", "redis_queue"},
    "worker": {"domain", "config", "postgres", "redis_queue"},
    "cli": {"domain", "config", "postgres", "redis_queue", "recovery", "web"},
    "celeryconfig": {"config"},
}
PROJECT = set(MAY_IMPORT) | {"tests", "bench"}


def modules() -> dict[str, Path]:
    found = {"celeryconfig": ROOT / "celeryconfig.py"}
    for package in MAY_IMPORT.keys() - {"celeryconfig"}:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(path: Path, module_level: bool = False) -> set[str]:
    """Every module `path` imports (absolute names), anywhere in it or only at module level."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if module_level else ast.walk(tree)
    names = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return names


@pytest.mark.parametrize("package", sorted(MAY_IMPORT))
def test_each_package_imports_only_what_the_design_table_allows(package):
    wrong = []
    for module, path in modules().items():
        if module.split(".")[0] != package:
            continue
        for name in imports(path):
            top = name.split(".")[0]
            if top in PROJECT and top != package and top not in MAY_IMPORT[package]:
                wrong.append(f"{path.relative_to(ROOT)} imports {name}")
            if package == "domain" and top not in PROJECT and top not in sys.stdlib_module_names:
                wrong.append(f"{path.relative_to(ROOT)} imports {name}, not in the standard library")
    assert wrong == []


def test_web_and_worker_never_import_each_other():
    assert "worker" not in MAY_IMPORT["web"] and "web" not in MAY_IMPORT["worker"]


def test_no_module_imports_itself_back_through_others():
    known = modules()
    graph = {
        module: {name for name in imports(path) if name in known and name != module} for module, path in known.items()
    }
    cycles = []

    def visit(module: str, trail: list[str]) -> None:
        for name in sorted(graph[module]):
            if name in trail:
                cycles.append(" -> ".join([*trail[trail.index(name) :], name]))
            elif name not in done:
                visit(name, [*trail, name])
        done.add(module)

    done: set[str] = set()
    for module in sorted(graph):
        if module not in done:
            visit(module, [module])
    assert cycles == []


def test_the_table_fails_a_module_that_breaks_it(tmp_path):
    """The check above can fail: a domain module importing SQLAlchemy is caught."""
    rogue = tmp_path / "rogue.py"
    rogue.write_text("import sqlalchemy\nfrom postgres import tables\n")
    names = {name.split(".")[0] for name in imports(rogue)}
    assert {"sqlalchemy", "postgres"} <= names
    assert "sqlalchemy" not in sys.stdlib_module_names and "postgres" not in MAY_IMPORT["domain"]
