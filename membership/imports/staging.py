"""The rows of one import in SQLite files of a scratch directory, so memory does not grow with the file: the
valid rows with the key that must be unique in the file and the sort key that orders the booking,
and the rejected rows; and the share of the rows each booking process takes."""

from __future__ import annotations

import json
import shutil
import sqlite3
import zlib

from common.scratch import scratch_make

class Staging:
    """The rows of one import in temporary SQLite files: the valid ones, each with a key that
    must be unique in the file and a sort key that orders the booking; and, in a file of their
    own, the rejected ones, which are written while booking processes read the first file."""

    FLUSH = 10000  # rows held in memory before they are written to the file

    def __init__(self):
        self.directory = scratch_make("import-")
        self.path, self.db = self._file("staged")
        self.db.execute("CREATE TABLE staged (row INTEGER PRIMARY KEY, sort_key TEXT, key TEXT, payload TEXT, raw TEXT, shard INTEGER)")
        self.rejected_path, self.rejects = self._file("rejected")
        self.rejects.execute("CREATE TABLE rejected (row INTEGER PRIMARY KEY, raw TEXT, error TEXT)")
        self.pending, self.pending_rejected = [], []
        self.by_member = False

    def _file(self, name: str) -> tuple[str, sqlite3.Connection]:
        path = str(self.directory / f"{name}.sqlite3")
        db = sqlite3.connect(path)
        db.executescript("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;")
        return path, db

    def stage(self, number: int, sort_key: str, key: str, payload: list, raw: list[str], shard: int = 0):
        self.pending.append((number, sort_key, key, json.dumps(payload, ensure_ascii=False), json.dumps(raw, ensure_ascii=False), shard))
        if len(self.pending) >= self.FLUSH:
            self.flush()

    def reject(self, number: int, raw: list[str], error: str):
        self.pending_rejected.append((number, json.dumps(raw, ensure_ascii=False), error))
        if len(self.pending_rejected) >= self.FLUSH:
            self.flush()

    def flush(self):
        if self.pending:
            self.db.executemany("INSERT INTO staged VALUES (?, ?, ?, ?, ?, ?)", self.pending)
            self.db.commit()
        if self.pending_rejected:
            self.rejects.executemany("INSERT OR REPLACE INTO rejected VALUES (?, ?, ?)", self.pending_rejected)
            self.rejects.commit()
        self.pending, self.pending_rejected = [], []

    def duplicates(self) -> list[tuple[int, list[str], str, int]]:
        """Unstage the rows whose key appeared in an earlier row and return them: (row, raw, key, first row)."""
        self.flush()
        self.db.execute("CREATE INDEX staged_key ON staged (key, row)")
        found = self.db.execute(
            """SELECT s.row, s.raw, s.key, f.first FROM staged s
               JOIN (SELECT key, MIN(row) AS first FROM staged GROUP BY key HAVING COUNT(*) > 1) f
               ON s.key = f.key WHERE s.row > f.first ORDER BY s.row"""
        ).fetchall()
        self.db.executemany("DELETE FROM staged WHERE row = ?", [(number,) for number, *_ in found])
        self.db.commit()
        return [(number, json.loads(raw), key, first) for number, raw, key, first in found]

    def count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM staged").fetchone()[0]

    def span(self) -> tuple[str, str] | None:
        """The first and last sort keys staged (None: no row is)."""
        first, last = self.db.execute("SELECT MIN(sort_key), MAX(sort_key) FROM staged").fetchone()
        return None if first is None else (first, last)

    def order(self, by_member: bool = False):
        """Index the staged rows in booking order (before ``in_order``): by sort key, then key;
        ``by_member``, each member's rows in that order, one member after another."""
        self.by_member = by_member
        self.db.execute(f"CREATE INDEX staged_order ON staged ({ORDERS[by_member]})")
        self.db.commit()

    def in_order(self, size: int, share: int = 0, shares: int = 1):
        """Batches of (row, payload) in booking order; of one share of ``shares`` only."""
        return staged_batches(self.db, size, share, shares, self.by_member)

    def raw(self, number: int) -> list[str]:
        """The cells of the staged row ``number`` as the file gave them (for a row that booking rejected)."""
        return json.loads(self.db.execute("SELECT raw FROM staged WHERE row = ?", (number,)).fetchone()[0])

    def rejected(self):
        self.flush()
        for raw, error in self.rejects.execute("SELECT raw, error FROM rejected ORDER BY row"):
            yield json.loads(raw), error

    def close(self):
        self.db.close()
        self.rejects.close()
        shutil.rmtree(self.directory, ignore_errors=True)


# The booking orders: by sort key, then key; or by member (the shard a member's id hashes to; two
# members of one shard have their rows interleaved, each still in booking order).
ORDERS = {False: "sort_key, key", True: "shard, sort_key, key"}


def staged_batches(db: sqlite3.Connection, size: int, share: int = 0, shares: int = 1, by_member: bool = False):
    where = "WHERE shard % ? = ?" if shares > 1 else ""
    cursor = db.execute(f"SELECT row, payload FROM staged {where} ORDER BY {ORDERS[by_member]}", (shares, share) if shares > 1 else ())
    while rows := cursor.fetchmany(size):
        yield [(number, json.loads(payload)) for number, payload in rows]


def shard_of(member_id: str) -> int:
    """A stable number for a member id: rows with the same number are booked by the same process."""
    return zlib.crc32(member_id.encode())
