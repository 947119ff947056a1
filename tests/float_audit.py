"""Lists every `==` / `!=` that a test's assert evaluates on a float: `pytest -p tests.float_audit`.

A text search cannot tell a computed float from a copied one (`tests/floats.py` says why they are
compared differently); a run can. This plugin rewrites each equality inside a test module's
asserts into a call that looks at the operands (floats, numpy floats and float arrays, float
tensors, and containers, dataclasses and pydantic models holding them), then prints each site
once, with its source line and the operands it saw, after the run. Every site it lists should be a
copied value; a computed one is a bug to fix with a tolerance.

It patches pytest's assertion rewriter (pytest's internals, as locked in requirements.txt) and
skips pytest's cache of rewritten modules, so use it for an audit, not for everyday runs.
"""

from __future__ import annotations

import ast
import dataclasses
import operator
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _pytest.assertion.rewrite as rewrite
import pytest

_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "Eq": operator.eq,
    "NotEq": operator.ne,
    "Lt": operator.lt,
    "LtE": operator.le,
    "Gt": operator.gt,
    "GtE": operator.ge,
    "Is": operator.is_,
    "IsNot": operator.is_not,
    "In": lambda a, b: a in b,
    "NotIn": lambda a, b: a not in b,
}
_TESTS = Path(__file__).resolve().parent
_sites: dict[tuple[str, int, int], tuple[str, str]] = {}


def compare(path: str, line: int, column: int, ops: tuple[str, ...], *operands: Any) -> Any:
    """Evaluate a (chained) comparison, noting each equality on a float (operands come eager)."""
    for i, op in enumerate(ops):
        left, right = operands[i], operands[i + 1]
        if op in ("Eq", "NotEq") and not (_is_approx(left) or _is_approx(right)):
            if _holds_float(left) or _holds_float(right):
                _sites.setdefault((path, line, column), (_short(left), _short(right)))
    if len(ops) == 1:  # the common case, and the only one whose result may be an array
        return _OPERATORS[ops[0]](operands[0], operands[1])
    result: Any = True
    for i, op in enumerate(ops):
        result = _OPERATORS[op](operands[i], operands[i + 1])
        if not result:
            return result
    return result


class _Equalities(ast.NodeTransformer):
    """Turns each comparison with `==` or `!=` into a call of `compare`."""

    def __init__(self, path: str) -> None:
        self.path = path

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        self.generic_visit(node)
        ops = tuple(type(op).__name__ for op in node.ops)
        if "Eq" not in ops and "NotEq" not in ops:
            return node
        module = ast.Call(ast.Name("__import__", ast.Load()), [ast.Constant(__name__)], [])
        call = ast.Call(
            ast.Attribute(_submodule(module, __name__), "compare", ast.Load()),
            [
                ast.Constant(self.path),
                ast.Constant(node.lineno),
                ast.Constant(node.col_offset),
                ast.Constant(ops),
                node.left,
                *node.comparators,
            ],
            [],
        )
        return ast.copy_location(call, node)


def _submodule(package: ast.expr, dotted: str) -> ast.expr:
    """`__import__("a.b.c")` returns package `a`: walk down to `a.b.c`."""
    expr = package
    for part in dotted.split(".")[1:]:
        expr = ast.Attribute(expr, part, ast.Load())
    return expr


_original_run = rewrite.AssertionRewriter.run


def _run(self: rewrite.AssertionRewriter, module: ast.Module) -> None:
    path = Path(str(self.module_path or ""))
    if path.is_relative_to(_TESTS) and path.name != Path(__file__).name:
        equalities = _Equalities(str(path.relative_to(_TESTS.parent)))
        for node in ast.walk(module):
            if isinstance(node, ast.Assert):
                node.test = equalities.visit(node.test)
        ast.fix_missing_locations(module)
    _original_run(self, module)


rewrite.AssertionRewriter.run = _run  # type: ignore[method-assign]
rewrite._read_pyc = lambda *args, **kwargs: None  # rewrite every module, none from the cache
rewrite._write_pyc = lambda *args, **kwargs: True  # and leave the cache to everyday runs


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    write = terminalreporter.write_line
    terminalreporter.section(f"float audit: {len(_sites)} equalities on floats in asserts")
    for (path, line, column), (left, right) in sorted(_sites.items()):
        source = (_TESTS.parent / path).read_text().splitlines()[line - 1].strip()
        write(f"{path}:{line}:{column}  {source[:100]}")
        write(f"    {left}  |  {right}")


def _holds_float(value: Any, depth: int = 0) -> bool:
    if depth > 4 or isinstance(value, bool | int | str | bytes) or value is None:
        return False
    if isinstance(value, float):
        return True
    module = type(value).__module__ or ""
    if module.startswith("numpy"):
        dtype = getattr(value, "dtype", None)
        if dtype is not None and dtype.kind in ("f", "c"):
            return True
        if dtype is not None and dtype.kind == "O":
            return any(_holds_float(x, depth + 1) for x in value.ravel()[:200])
        return False
    if module.startswith("torch"):
        is_floating_point = getattr(value, "is_floating_point", None)  # a tensor's method
        return callable(is_floating_point) and bool(is_floating_point())
    if module.startswith("pandas"):
        dtypes = getattr(value, "dtypes", None)
        if dtypes is not None and hasattr(dtypes, "__iter__"):
            return any(d.kind in ("f", "c") for d in dtypes)
        return getattr(getattr(value, "dtype", None), "kind", None) in ("f", "c")
    if isinstance(value, dict):
        items = list(value.items())[:500]
        return any(_holds_float(k, depth + 1) or _holds_float(v, depth + 1) for k, v in items)
    if isinstance(value, list | tuple | set | frozenset):
        return any(_holds_float(x, depth + 1) for x in list(value)[:500])
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = dataclasses.fields(value)
        return any(_holds_float(getattr(value, f.name, None), depth + 1) for f in fields)
    if hasattr(type(value), "model_fields"):
        return any(
            _holds_float(getattr(value, n, None), depth + 1) for n in type(value).model_fields
        )
    return False


def _is_approx(value: Any, depth: int = 0) -> bool:
    """`pytest.approx(...)`, or a tuple, list or dict with one inside (`(3, approx(0.5))`)."""
    if type(value).__name__.startswith("Approx"):
        return True
    if depth < 2 and isinstance(value, list | tuple | dict):
        items = value.values() if isinstance(value, dict) else value
        return any(_is_approx(item, depth + 1) for item in items)
    return False


def _short(value: Any) -> str:
    try:
        text = repr(value)
    except Exception as error:  # a repr that fails must not fail the test
        text = f"<repr failed: {error}>"
    return f"{type(value).__name__}: {text[:120]}"
