"""Every skip in the suite keeps its reason in the ``-ra`` summary.

pytest-trio re-raises a skip that happens inside a trio test without its reason
(the summary then reads just "Skipped"), so no async function in tests/ may call
``pytest.skip`` or ``require_tool``: a test skips through a ``skipif`` marker or
a sync fixture (conftest.py's ``curl``, ``nghttp``, ``h2load``) instead.
"""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
SKIPPING = {"skip", "require_tool", "importorskip"}


def _called_name(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return None


def skips_inside_async_functions(source: str) -> list[tuple[str, int, str]]:
    """``(function, line, called)`` for each skipping call lexically inside an async def."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.AsyncFunctionDef):
            for inner in ast.walk(node):
                if isinstance(inner, ast.Call) and _called_name(inner) in SKIPPING:
                    found.append((node.name, inner.lineno, _called_name(inner) or ""))
    return found


def test_the_check_sees_a_skip_in_a_trio_test() -> None:
    source = (
        "async def test_a():\n"
        "    curl = require_tool('curl')\n"
        "async def test_b():\n"
        "    if True:\n"
        "        pytest.skip('why')\n"
        "def test_c():\n"
        "    pytest.skip('a sync test keeps its reason')\n"
    )
    assert skips_inside_async_functions(source) == [
        ("test_a", 2, "require_tool"),
        ("test_b", 5, "skip"),
    ]


def test_no_async_function_in_the_suite_skips() -> None:
    offenders = [
        f"{path.relative_to(TESTS)}:{line} {function}() calls {called}()"
        for path in sorted(TESTS.rglob("*.py"))
        for function, line, called in skips_inside_async_functions(path.read_text())
    ]
    assert offenders == []
