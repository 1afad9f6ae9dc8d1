"""A resumable, lossless results store: a directory of Parquet chunks plus a manifest.

* Each finished chunk of points is written to ``part-*.parquet.tmp``, flushed to disk, and renamed
  into place with :func:`os.replace` (atomic on POSIX): a chunk is either wholly present or absent,
  whatever kills the process.
* ``manifest.json`` records the spec that the results belong to (its identity hash); re-running a
  different spec into the same directory is refused rather than mixing results.
* Resume = the point ids already in the chunks; a re-run evaluates only the others, so no row is
  lost and none is duplicated. A chunk that cannot be read (truncated or damaged by hand) is moved
  to ``damaged/`` and named; its points are then missing, so the re-run computes them again.
* One writer: a sweep holds ``.lock`` (an exclusive ``flock``, with the owner's pid and host in it)
  while it runs; a second sweep into the same directory is refused and names the owner. The kernel
  drops the lock when its owner dies, so a lock left by a killed sweep is stale and simply retaken.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import socket
import time
import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import SpecError
from .worker import ELAPSED, ERROR, POINT_ID

MANIFEST = "manifest.json"
PART_GLOB = "part-*.parquet"
LOCK = ".lock"
DAMAGED = "damaged"


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + f".{uuid.uuid4().hex[:8]}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _fsync_dir(d: Path) -> None:
    try:
        fd = os.open(d, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class ResultStore:
    """The results directory of one sweep."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._lock_fd: int | None = None
        self.set_aside: list[str] = []  # damaged chunks moved to damaged/ by this run

    # ------------------------------------------------------------------ the one writer
    def lock(self) -> None:
        """Become the directory's one writer, or raise a SpecError naming the sweep that is."""
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / LOCK
        for _ in range(5):
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                owner = _read_owner(fd)
                os.close(fd)
                raise SpecError("output", f"{self.root} is being written by another sweep ({owner}); wait for it "
                                          "to finish or choose another --out") from None
            try:  # the file we locked must still be the one at the path (not unlinked by a finishing owner)
                same = os.fstat(fd).st_ino == os.stat(path).st_ino
            except FileNotFoundError:
                same = False
            if not same:
                os.close(fd)
                continue
            os.ftruncate(fd, 0)  # whatever was there is a stale lock: its owner is gone
            os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                     "since": time.strftime("%Y-%m-%dT%H:%M:%S%z")}).encode())
            self._lock_fd = fd
            return
        raise SpecError("output", f"{self.root}: could not take the writer lock")

    def unlock(self) -> None:
        if self._lock_fd is None:
            return
        try:
            (self.root / LOCK).unlink(missing_ok=True)
        finally:
            os.close(self._lock_fd)
            self._lock_fd = None

    # ------------------------------------------------------------------ manifest
    def open(self, manifest: dict[str, Any], fresh: bool = False) -> None:
        """Create the directory (or check that it holds this sweep) and clear stale temp files.
        The caller holds the lock (:meth:`lock`) when it writes."""
        if fresh and self.root.exists():
            entries = [p for p in self.root.iterdir() if p.name != LOCK]
            if not (self.root / MANIFEST).is_file() and entries:
                raise SpecError("output", f"{self.root} is not a sweep results directory; not deleting it")
            for p in entries:
                shutil.rmtree(p) if p.is_dir() else p.unlink()
        self.root.mkdir(parents=True, exist_ok=True)
        old = self.manifest()
        if old is None:
            if any(self.root.glob(PART_GLOB)):
                raise SpecError("output", f"{self.root} holds results without a manifest; pass --fresh or another --out")
            _atomic_write(self.root / MANIFEST, json.dumps(manifest, indent=2, default=str).encode())
        elif old.get("identity") != manifest.get("identity"):
            raise SpecError(
                "output",
                f"{self.root} holds results of a different sweep ({old.get('name')!r}, identity "
                f"{old.get('identity')}); pass --fresh to discard them or choose another --out",
            )
        for tmp in self.root.glob("*.tmp"):
            tmp.unlink(missing_ok=True)

    def manifest(self) -> dict[str, Any] | None:
        p = self.root / MANIFEST
        if not p.is_file():
            return None
        return json.loads(p.read_text(encoding="utf-8"))

    def update_manifest(self, **fields: Any) -> None:
        m = self.manifest() or {}
        m.update(fields)
        _atomic_write(self.root / MANIFEST, json.dumps(m, indent=2, default=str).encode())

    # ------------------------------------------------------------------ chunks
    def parts(self) -> list[Path]:
        return sorted(self.root.glob(PART_GLOB))

    def done_ids(self) -> set[str]:
        """Point ids already stored (resume skips them). A chunk that cannot be read whole is set
        aside in ``damaged/`` (named in :attr:`set_aside`): its points count as not done."""
        done: set[str] = set()
        for p in self.parts():
            try:
                table = pq.read_table(p)  # every column: a damaged page anywhere is found now, not by query
                ids = table.column(POINT_ID).to_pylist()
            except (pa.ArrowException, OSError, KeyError, ValueError):
                self._set_aside(p)
                continue
            done.update(ids)
        return done

    def damaged_parts(self) -> list[Path]:
        """Chunks whose Parquet footer cannot be read (a cheap check for readers such as query)."""
        bad = []
        for p in self.parts():
            try:
                pq.read_metadata(p)
            except (pa.ArrowException, OSError):
                bad.append(p)
        return bad

    def _set_aside(self, part: Path) -> None:
        dest = self.root / DAMAGED
        dest.mkdir(exist_ok=True)
        os.replace(part, dest / part.name)
        _fsync_dir(self.root)
        self.set_aside.append(part.name)

    def write_chunk(self, rows: list[dict[str, Any]], axis_types: dict[str, pa.DataType]) -> Path:
        """Write one chunk of rows atomically; returns its path."""
        table = rows_to_table(rows, axis_types)
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, compression="zstd")
        name = f"part-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.parquet"
        path = self.root / name
        _atomic_write(path, sink.getvalue().to_pybytes())
        return path

    def glob(self) -> str:
        return str(self.root / PART_GLOB)


def _read_owner(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0) or b"{}")
        return f"pid {int(info['pid'])} on {str(info.get('host', '?'))[:64]} since {str(info.get('since', '?'))[:32]}"
    except (ValueError, KeyError, TypeError, OSError):
        return "owner unknown"


def rows_to_table(rows: list[dict[str, Any]], axis_types: dict[str, pa.DataType]) -> pa.Table:
    """Rows -> an Arrow table with stable types: axes as declared, numbers float64, the rest strings."""
    keys: list[str] = []
    seen: set[str] = set()
    for r in rows:
        for k in r:
            if k not in seen:
                seen.add(k)
                keys.append(k)
    arrays, fields = [], []
    for k in keys:
        vals = [r.get(k) for r in rows]
        if k in axis_types:
            typ = axis_types[k]
            if typ == pa.string():
                vals = [v if isinstance(v, str) or v is None else json.dumps(v, sort_keys=True) for v in vals]
        elif k in (POINT_ID, ERROR):
            typ = pa.string()
        elif k == ELAPSED:
            typ = pa.float64()
        elif all(v is None or (isinstance(v, int | float)) for v in vals):
            typ = pa.float64()
            vals = [None if v is None else float(v) for v in vals]
        else:
            typ = pa.string()
            vals = [None if v is None else v if isinstance(v, str) else json.dumps(v, default=str) for v in vals]
        arrays.append(pa.array(vals, type=typ))
        fields.append(pa.field(k, typ))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def axis_type(values: list[Any]) -> pa.DataType:
    """One Arrow type for every value an axis may take."""
    if all(isinstance(v, bool) for v in values):
        return pa.bool_()
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return pa.int64()
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return pa.float64()
    return pa.string()
