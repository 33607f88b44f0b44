"""Rules the code base keeps, checked by reading its source: no dead functions in src, and no
test that asserts how long something took (timings vary by machine: they belong in bench/)."""

from __future__ import annotations

import ast
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SOURCE = REPO / "src" / "papercast"
# Where a function may be used: the package, its tests and benchmarks, scripts and entry points.
USERS = [REPO / "src", REPO / "tests", REPO / "bench"]
ENTRY_POINTS = [REPO / "pyproject.toml", *sorted((REPO / "scripts").iterdir())]
CLOCKS = {"perf_counter", "perf_counter_ns", "monotonic", "monotonic_ns", "time", "time_ns", "process_time"}


def python_files(root: Path) -> Iterator[Path]:
    yield from sorted(root.rglob("*.py"))


def module_functions(path: Path) -> Iterator[str]:
    """Module-level functions without decorators (a decorator registers its function somewhere)."""
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        function = isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        if function and not node.decorator_list and not node.name.startswith("__"):
            yield node.name


def test_every_module_level_function_in_src_is_used() -> None:
    users = [*(path for root in USERS for path in python_files(root)), *ENTRY_POINTS]
    words = Counter(word for path in users for word in re.findall(r"\w+", path.read_text(encoding="utf-8")))
    unused = [f"{path.relative_to(REPO)}: {name}" for path in python_files(SOURCE)
              for name in module_functions(path) if words[name] < 2]  # its definition is one
    assert unused == [], "functions nothing calls: remove them"


def reads_a_clock(node: ast.AST, clock_names: set[str]) -> bool:
    """Whether `node` calls a clock (`time.monotonic()`) or names a value read from one."""
    for child in ast.walk(node):
        if isinstance(child, ast.Call):
            called = child.func
            name = called.attr if isinstance(called, ast.Attribute) else getattr(called, "id", "")
            if name in CLOCKS:
                return True
        if isinstance(child, ast.Name) and child.id in clock_names:
            return True
    return False


def wall_clock_bounds(tree: ast.AST) -> Iterator[int]:
    """Lines of asserts that bound a clock reading from above (`elapsed < 1.0`, `3 > took`)."""
    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        clock_names: set[str] = set()
        for node in ast.walk(function):
            if isinstance(node, ast.Assign) and reads_a_clock(node.value, clock_names):
                clock_names |= {target.id for target in node.targets if isinstance(target, ast.Name)}
        for node in ast.walk(function):
            if isinstance(node, ast.Assert):
                for compare in (n for n in ast.walk(node.test) if isinstance(n, ast.Compare)):
                    for left, op, right in zip([compare.left, *compare.comparators], compare.ops,
                                               compare.comparators, strict=False):
                        if not isinstance(op, ast.Lt | ast.LtE | ast.Gt | ast.GtE):
                            continue
                        timed, limit = (left, right) if isinstance(op, ast.Lt | ast.LtE) else (right, left)
                        if reads_a_clock(timed, clock_names) and not reads_a_clock(limit, clock_names):
                            yield node.lineno


def test_no_test_asserts_an_upper_bound_on_wall_clock_time() -> None:
    found = [f"{path.relative_to(REPO)}:{line}" for path in python_files(REPO / "tests")
             for line in wall_clock_bounds(ast.parse(path.read_text(encoding="utf-8")))]
    assert found == [], "timing assertions flake on a busy machine: measure in bench/ instead"


def test_the_wall_clock_rule_sees_the_usual_spellings() -> None:
    caught = '''
def test_direct():
    started = time.perf_counter()
    assert time.perf_counter() - started < 1.0

def test_through_a_name():
    started = monotonic()
    work()
    elapsed = monotonic() - started
    assert elapsed <= 3

def test_reversed():
    began = time.time()
    assert 2 > time.time() - began
'''
    allowed = '''
def test_a_fake_clock_and_a_lower_bound():
    clock = FakeClock()
    assert clock.now() < deadline
    started = time.monotonic()
    assert time.monotonic() >= started
'''
    assert list(wall_clock_bounds(ast.parse(caught))) == [4, 10, 14]
    assert list(wall_clock_bounds(ast.parse(allowed))) == []
