"""The code's layout keeps its architecture: the core ignorant of platforms, no import cycles, small functions."""

from __future__ import annotations

import ast
import statistics
from collections.abc import Iterator
from pathlib import Path

from daemon.registry import Registry

PACKAGE = Path(__file__).resolve().parent.parent / "daemon"
PLATFORMS = PACKAGE / "publishers"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def sources() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imported_modules(name: str, path: Path, known: set[str]) -> set[str]:
    """The daemon modules that module `name` imports anywhere in its text (relative ones too)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {module for module in found if module in known and module != name}


def import_graph() -> dict[str, set[str]]:
    modules = sources()
    return {name: imported_modules(name, path, set(modules)) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> Iterator[list[str]]:
    """Each import cycle once, as found by a depth-first walk (a package's own face excepted)."""
    done: set[str] = set()

    def walk(node: str, trail: list[str]) -> Iterator[list[str]]:
        for target in sorted(graph[node]):
            if target in trail:
                yield [*trail[trail.index(target) :], target]
            elif target not in done:
                yield from walk(target, [*trail, target])
        done.add(node)

    for start in sorted(graph):
        if start not in done:
            yield from walk(start, [start])


def without_package_faces(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """A package's `__init__` re-exports its modules: importing a sibling through it is no cycle."""
    return {
        name: {target for target in targets if not name.startswith(target + ".")}
        for name, targets in graph.items()
    }


def function_lengths() -> dict[str, int]:
    lengths = {}
    for name, path in sources().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                assert node.end_lineno is not None
                lengths[f"{name}:{node.lineno}:{node.name}"] = node.end_lineno - node.lineno + 1
    return lengths


class TestLayout:
    def test_the_core_never_imports_a_platform(self) -> None:
        """No module outside daemon/publishers/ imports from it: the core knows platforms only by the registry."""
        graph = import_graph()
        offenders = {
            name: sorted(target for target in targets if target.startswith("daemon.publishers"))
            for name, targets in graph.items()
            if not name.startswith("daemon.publishers")
        }
        assert {name: found for name, found in offenders.items() if found} == {}

    def test_there_are_no_import_cycles(self) -> None:
        """No daemon module imports, directly or through others, a module that imports it."""
        assert list(cycles(without_package_faces(import_graph()))) == []

    def test_the_cycle_finder_sees_a_cycle(self) -> None:
        """A two-module cycle is reported, so the test above can fail."""
        assert list(cycles({"a": {"b"}, "b": {"a"}})) == [["a", "b", "a"]]

    def test_the_platform_package_holds_platforms_only(self) -> None:
        """Every module and package in daemon/publishers/ is a platform the registry finds."""
        entries = {
            path.stem
            for path in PLATFORMS.iterdir()
            if path.name != "__init__.py"
            and (path.suffix == ".py" or (path / "__init__.py").exists())
        }
        assert entries == set(Registry.discover(entry_point_group=None).names)

    def test_no_function_is_longer_than_40_lines(self) -> None:
        """Every function and method in daemon/ fits on a screen."""
        assert {name: n for name, n in function_lengths().items() if n > 40} == {}

    def test_the_median_function_is_under_10_lines(self) -> None:
        """Functions stay small: the median length is under ten lines."""
        assert statistics.median(function_lengths().values()) < 10
