"""Reading a sweep's results: DuckDB SQL over its Parquet chunks, and its Pareto frontier.

Views available to ``query``:

* ``results``: every row (one per point: ``point_id``, the axis columns, the outputs, ``error``);
* ``ok``: the rows whose scenario ran (``error IS NULL``);
* ``pareto``: the non-dominated ``ok`` rows over the sweep's objectives.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from ..errors import SpecError
from .pareto import pareto_mask
from .store import MANIFEST, ResultStore

#: longest SQL text accepted
MAX_SQL = 100_000


def find_results(path: str | Path | None = None) -> ResultStore:
    """A results directory: `path`, or the most recently written one under ./sweeps."""
    if path is None:
        found = sorted(Path("sweeps").glob(f"*/{MANIFEST}"), key=lambda p: p.stat().st_mtime)
        if not found:
            raise SpecError("--results", "no sweep results under ./sweeps; run `gigafactory sweep SPEC.yaml` first")
        return ResultStore(found[-1].parent)
    store = ResultStore(path)
    if store.manifest() is None:
        raise SpecError("--results", f"{str(path)!r} is not a sweep results directory (no {MANIFEST})")
    return store


#: DuckDB settings of the connection a user's SQL runs on: no file or network access (read_csv,
#: read_text, glob, COPY ... TO and ATTACH fail), no extension installed or loaded, settings locked
SANDBOX = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
    "allow_unsigned_extensions": False,
    "lock_configuration": True,
}
#: statements a query may be: reading only
READ_STATEMENTS = ("SELECT", "EXPLAIN")


def connect(store: ResultStore, with_pareto: bool = True) -> duckdb.DuckDBPyConnection:
    """A sandboxed, read-only DuckDB holding only the results' tables (results, ok, pareto).

    The tables are built by our own connection into a private temporary database file, which is then
    opened read-only with :data:`SANDBOX` settings and unlinked (the open connection keeps it)."""
    bad = store.damaged_parts()
    if bad:
        raise SpecError("--results", f"{bad[0].name} in {store.root} is damaged (not a readable Parquet file)"
                                     f"{f' and {len(bad) - 1} more' if len(bad) > 1 else ''}; re-run the sweep: it sets "
                                     "damaged chunks aside and recomputes their points")
    tmp = Path(tempfile.mkdtemp(prefix="gigafactory-query-"))
    try:
        db = tmp / "results.duckdb"
        w = duckdb.connect(str(db))
        try:
            if store.parts():
                parts = ", ".join("'" + str(p).replace("'", "''") + "'" for p in store.parts())
                w.execute(f"CREATE TABLE results AS SELECT * FROM read_parquet([{parts}], union_by_name=true)")
            else:
                w.execute("CREATE TABLE results (point_id VARCHAR, error VARCHAR)")
            w.execute("CREATE VIEW ok AS SELECT * FROM results WHERE error IS NULL")
            if with_pareto:
                front = frontier(store, w)
                w.register("pareto_arrow", front)
                w.execute("CREATE TABLE pareto AS SELECT * FROM pareto_arrow")
                w.unregister("pareto_arrow")
        except duckdb.Error as exc:
            raise SpecError("--results", f"{store.root} holds a damaged results chunk: {str(exc).splitlines()[0][:200]}; "
                                         "re-run the sweep to detect and recompute it") from None
        finally:
            w.close()
        return duckdb.connect(str(db), read_only=True, config=dict(SANDBOX))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def query(sql: str, results: str | Path | ResultStore | None = None) -> pa.Table:
    """Run one read-only DuckDB statement over a sweep's results (tables ``results``, ``ok``, ``pareto``)."""
    if len(sql) > MAX_SQL:
        raise SpecError("query", f"is over {MAX_SQL:,} characters")
    store = results if isinstance(results, ResultStore) else find_results(results)
    con = connect(store, with_pareto=bool(re.search(r"\bpareto\b", sql, re.I)))
    try:
        try:
            statements = con.extract_statements(sql)
        except duckdb.Error as exc:
            raise SpecError("query", str(exc).splitlines()[0][:300]) from None
        if len(statements) != 1:
            raise SpecError("query", f"give exactly one statement (got {len(statements)})")
        kind = str(statements[0].type).rsplit(".", 1)[-1]
        if kind not in READ_STATEMENTS:
            raise SpecError("query", f"only reading statements run here (got {kind})", list(READ_STATEMENTS))
        return arrow(con, sql)
    except duckdb.Error as exc:
        first = str(exc).splitlines()[0][:300]
        raise SpecError("query", first) from None
    finally:
        con.close()


def arrow(con: duckdb.DuckDBPyConnection, sql: str) -> pa.Table:
    """The result of a statement as an Arrow table (DuckDB 1.x and 2.x spell it differently)."""
    rel = con.sql(sql)
    if rel is None:  # a statement without a result (CREATE, SET, ...)
        return pa.table({})
    fn = getattr(rel, "to_arrow_table", None) or rel.arrow
    return fn()


def objectives_of(store: ResultStore, objectives: list[str] | None = None) -> list[str]:
    m = store.manifest() or {}
    return list(objectives or m.get("objectives") or [])


def frontier(store: ResultStore, con: duckdb.DuckDBPyConnection | None = None,
             objectives: list[str] | None = None) -> pa.Table:
    """The non-dominated rows (every objective minimised), sorted by the first objective."""
    con = con or connect(store, with_pareto=False)
    objs = objectives_of(store, objectives)
    cols = {r[0] for r in con.execute("DESCRIBE ok").fetchall()}
    missing = [o for o in objs if o not in cols]
    if not objs or missing:
        if not store.parts() or cols <= {"point_id", "error"}:
            return pa.table({})
        raise SpecError("objectives", f"{', '.join(missing) or 'none given'} not among the outputs",
                        sorted(c for c in cols if c not in ("point_id", "error")))
    table = arrow(con, "SELECT * FROM ok")
    if table.num_rows == 0:
        return table
    costs = np.column_stack([table.column(o).to_numpy(zero_copy_only=False).astype(float) for o in objs])
    front = table.filter(pa.array(pareto_mask(costs)))
    return front.sort_by([(o, "ascending") for o in objs])


def summary_rows(table: pa.Table, columns: list[str], limit: int = 20) -> list[dict[str, Any]]:
    cols = [c for c in columns if c in table.column_names]
    return table.select(cols).slice(0, limit).to_pylist()
