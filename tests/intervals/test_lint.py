"""Source checks for the soundness rules that a reader can verify with grep (STYLE.md habits 1, 2, 8).

* no ``fastmath=True`` under ``intervals/`` or ``verinet/`` (reassociation and contraction break the
  per-operation rounding arguments);
* nothing assigns ``mp.prec``/``mp.dps`` (precision is passed explicitly; no global mpmath state);
* every ``@njit``/``@numba.njit``/``@jit`` decorator passes ``cache=True`` (first-call JIT costs seconds)
  and none passes ``fastmath`` other than ``False``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("intervals", "verinet")
SOURCES = sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))

MP_GLOBAL_PREC = re.compile(r"\bmp\s*\.\s*(prec|dps)\s*(=(?!=)|\+=|-=)")
JIT_NAMES = {"njit", "jit", "vectorize", "guvectorize", "generated_jit", "cfunc"}


def _rel(p: Path) -> str:
    return str(p.relative_to(ROOT))


def test_sources_found():
    assert any(p.name == "_kernels.py" for p in SOURCES), "the lint test must see intervals/_kernels.py"


@pytest.mark.parametrize("path", SOURCES, ids=_rel)
def test_no_fastmath(path):
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        code = line.split("#", 1)[0]
        m = re.search(r"fastmath\s*=\s*([^,)\s]+)", code)
        assert m is None or m.group(1) == "False", f"{_rel(path)}:{i}: fastmath must stay off: {line.strip()}"


@pytest.mark.parametrize("path", SOURCES, ids=_rel)
def test_no_global_mpmath_precision(path):
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        code = line.split("#", 1)[0]
        assert not MP_GLOBAL_PREC.search(code), f"{_rel(path)}:{i}: assigns the global mpmath precision: {line.strip()}"
        assert "workdps(" not in code and "workprec(" not in code, (
            f"{_rel(path)}:{i}: mpmath.workprec/workdps change the global context: {line.strip()}"
        )


def _decorator_name(d: ast.expr) -> str | None:
    target = d.func if isinstance(d, ast.Call) else d
    if isinstance(target, ast.Name):
        return target.id
    if isinstance(target, ast.Attribute):
        return target.attr
    return None


@pytest.mark.parametrize("path", SOURCES, ids=_rel)
def test_every_jit_uses_cache(path):
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for d in node.decorator_list:
            if _decorator_name(d) not in JIT_NAMES:
                continue
            where = f"{_rel(path)}:{d.lineno} ({node.name})"
            assert isinstance(d, ast.Call), f"{where}: bare @{_decorator_name(d)} (needs cache=True)"
            kw = {k.arg: k.value for k in d.keywords}
            assert "cache" in kw and isinstance(kw["cache"], ast.Constant) and kw["cache"].value is True, (
                f"{where}: @{_decorator_name(d)} without cache=True"
            )
            if "fastmath" in kw:
                assert isinstance(kw["fastmath"], ast.Constant) and kw["fastmath"].value is False, (
                    f"{where}: fastmath must be False"
                )


def test_lint_patterns_catch_violations():
    """The patterns themselves work (a lint that never fires proves nothing)."""
    assert MP_GLOBAL_PREC.search("mpmath.mp.prec = 100")
    assert MP_GLOBAL_PREC.search("mp.dps=30")
    assert not MP_GLOBAL_PREC.search("if mp.prec == 53:")
    assert not MP_GLOBAL_PREC.search("ctx.prec = 200")
    bad = ast.parse("@njit\ndef f(): pass\n@njit(fastmath=True, cache=True)\ndef g(): pass\n")
    names = [_decorator_name(d) for fn in bad.body for d in fn.decorator_list]
    assert names == ["njit", "njit"]
    assert re.search(r"fastmath\s*=\s*([^,)\s]+)", "@njit(fastmath=True)").group(1) == "True"
