"""One import of a file at a time: a second import of the same content (from any path, command,
upload or worker) while the first runs is refused with a sentence, instead of both booking the
same rows and reporting counts that add up to nothing."""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.db import connection, connections
from django.utils.translation import gettext as _

from .csvio import FileError
from .scratch import scratch_root


class FileBusy(FileError):
    """The same file is being imported by another import right now."""


def file_key(path: str | Path, what: str) -> int:
    """A signed 64-bit number for ``what`` (the kind of import) and the file's content."""
    digest = hashlib.blake2b(f"{what}\n".encode(), digest_size=8)
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return int.from_bytes(digest.digest(), "big", signed=True)


@contextmanager
def file_exclusive(path: str | Path, *, what: str, label: str, shown: str | None = None) -> Iterator[None]:
    """Hold the import of ``path`` (of kind ``what``) to this process while the block runs, or
    raise ``FileBusy``. On PostgreSQL a session advisory lock of a connection of its own (the
    imports of every machine share the database; booking processes may close the main
    connection); on SQLite, whose imports run on one machine, a lock file. ``shown`` is how the
    refusal names ``what`` in the active language (``what`` itself, which keys the lock, never changes)."""
    try:
        key = file_key(path, what)
    except OSError:  # not readable: the import says so, in its own words
        yield
        return
    busy = FileBusy(
        _("%(label)s is being imported already: another import of the same %(what)s is running. Wait until it has finished; running the file again then books only what is not booked yet.")
        % {"label": label, "what": shown or what}
    )
    if connection.vendor == "postgresql":
        holder = connections.create_connection("default")
        try:
            with holder.cursor() as cursor:
                cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
                if not cursor.fetchone()[0]:
                    raise busy
            yield
        finally:
            holder.close()  # ends the session, and its lock
        return
    root = scratch_root()
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    lock = root / f"lock-{key & 0xFFFFFFFFFFFFFFFF:016x}"
    while True:
        handle = open(lock, "w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise busy from None
        if lock.exists() and lock.stat().st_ino == os.fstat(handle.fileno()).st_ino:
            break
        handle.close()  # the file was removed by the import that held it before: take the new one
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)  # removed while held, so no lock file outlives the import
        handle.close()
