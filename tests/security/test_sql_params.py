"""SQL only with bound parameters: no ``text(...)``/``execute(...)``/``read_sql(...)`` is given SQL built from
values (f-strings with placeholders, ``%`` formatting, ``.format``, ``+`` concatenation), anywhere in the repo's
Python source, except an explicit allow-list of identifier-only cases (each checked by hand: the interpolated
parts are table/view/schema names from code, never data)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCE_DIRS = ("gbv", "warehouse", "assets", "model", "quality", "crawlers", "dags", "tests")
SQL_CALLS = {"text", "execute", "exec_driver_sql", "executescript", "read_sql", "read_sql_query", "sql"}

# (file, enclosing function): why the interpolation is safe.
ALLOWED = {
    ("warehouse/marts.py", "create_views"): "CREATE VIEW <name> AS <sql>: names and SQL are module constants",
    ("tests/conftest.py", "pg_schema_url"): "CREATE/DROP SCHEMA of a uuid-made schema name",
    (
        "tests/warehouse/test_warehouse.py",
        "test_schema_has_every_documented_table",
    ): "view names in a literal",
    ("tests/faults/test_postgres_restart.py", "_content"): "SELECT * FROM <t> for the schema's table names",
    ("warehouse/loaders.py", "_duckdb_write"): (
        "DELETE ... USING / INSERT ... SELECT between a schema table and a uuid-named Arrow view: only quoted "
        "identifiers (table and column names from the SQLAlchemy metadata) and compiled column types; the "
        "values travel in the registered Arrow table"),
    ("gbv/market/comps.py", "from_warehouse"): "SELECT * FROM one of two literal table names",
    **{("gbv/market/comps.py", fn): (
        "pgvector DDL/DML on the constant table name, the extension's schema (read from pg_extension) and the "
        "vector dimension (an int); vectors, keys and limits are bound parameters; ef_search is an int clamped "
        "to 40..1000") for fn in ("sync", "add", "search", "__len__")},
}


def _built_from_values(node: ast.AST) -> str | None:
    if isinstance(node, ast.JoinedStr) and any(isinstance(v, ast.FormattedValue) for v in node.values):
        return "f-string"
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod) and isinstance(node.left, ast.Constant):
        return "% formatting"
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        if _built_from_values(node.left) or _built_from_values(node.right):
            return "concatenation"
        if not (isinstance(node.left, ast.Constant) and isinstance(node.right, ast.Constant)):
            return "concatenation"
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "format"
        and isinstance(node.func.value, ast.Constant)
    ):
        return ".format"
    return None


def _call_name(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return None


def find_unbound_sql(path: Path) -> list[tuple[str, str, int, str]]:
    """(file, enclosing function, line, how) of every SQL call whose SQL is built from values."""
    rel = path.relative_to(ROOT).as_posix()
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=rel)
    found = []

    def visit(node: ast.AST, func: str) -> None:
        for child in ast.iter_child_nodes(node):
            name = func
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                name = child.name
            if isinstance(child, ast.Call) and _call_name(child) in SQL_CALLS and child.args:
                how = _built_from_values(child.args[0])
                if how:
                    found.append((rel, func, child.lineno, f"{_call_name(child)}() with {how}"))
            visit(child, name)

    visit(tree, "<module>")
    return found


def _python_files() -> list[Path]:
    return sorted(p for d in SOURCE_DIRS for p in (ROOT / d).rglob("*.py") if ".venv" not in p.parts)


def test_no_sql_is_built_from_values():
    offenders = [f for p in _python_files() for f in find_unbound_sql(p) if (f[0], f[1]) not in ALLOWED]
    assert offenders == [], (
        "SQL built from values (use bound parameters, or add an identifier-only case):\n"
        + ("\n".join(f"{f}:{line} in {fn}: {how}" for f, fn, line, how in offenders))
    )


def test_every_allowed_case_still_exists():
    found = {(f, fn) for p in _python_files() for f, fn, _, _ in find_unbound_sql(p)}
    assert set(ALLOWED) <= found, f"stale allow-list entries: {set(ALLOWED) - found}"


@pytest.mark.parametrize(
    "snippet,bad",
    [
        ('conn.execute(text(f"SELECT * FROM t WHERE a = {a}"))', True),
        ('conn.execute(text("SELECT * FROM t WHERE a = %s" % a))', True),
        ('conn.execute(text("SELECT * FROM t WHERE a = {}".format(a)))', True),
        ('conn.execute(text("SELECT * FROM t WHERE a = " + a))', True),
        ('pd.read_sql(f"SELECT {col} FROM t", conn)', True),
        ('conn.exec_driver_sql(f"DROP TABLE {t}")', True),
        ('conn.execute(text("SELECT * FROM t WHERE a = :a"), {"a": a})', False),
        ('conn.execute(text("SELECT 1 " "FROM t"))', False),
        ('conn.execute(text(f"SELECT 1"))', False),
    ],
)
def test_the_scanner_tells_bound_from_built(tmp_path, snippet, bad, monkeypatch):
    path = ROOT / "tests" / "security" / f"_probe_{tmp_path.name}.py"
    try:
        path.write_text(f"def probe(conn, a, col, t):\n    {snippet}\n", encoding="utf-8")
        assert bool(find_unbound_sql(path)) is bad
    finally:
        path.unlink(missing_ok=True)
