"""Scratch directories for the files a command or a request works with for a while (an import's
staging tables, an uploaded file, its rejected rows): one directory per use, removed when the use
ends, and, if the process was killed before it could remove it, by the next process that makes
one on the same machine."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings


def scratch_root() -> Path:
    return Path(getattr(settings, "SCRATCH_DIR", "") or tempfile.gettempdir()) / "membership-scratch"


@contextmanager
def scratch_dir(prefix: str) -> Iterator[Path]:
    """A new directory of this process's own, removed with everything in it when the block ends."""
    path = scratch_make(prefix)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def scratch_make(prefix: str) -> Path:
    """A new directory of this process's own; the caller removes it (``shutil.rmtree``). The
    directories of processes of this machine that no longer run are removed first."""
    root = scratch_root()
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    scratch_sweep(root)
    path = root / f"{prefix}{_owner()}.{os.getpid()}.{uuid.uuid4().hex[:12]}"
    path.mkdir(mode=0o700)
    return path


def _owner() -> str:
    return socket.gethostname().replace(".", "_")


def scratch_sweep(root: Path | None = None) -> int:
    """Remove the scratch directories whose process (of this machine) has ended; returns how many."""
    root = root or scratch_root()
    removed = 0
    host = _owner()
    for entry in root.iterdir() if root.is_dir() else ():
        parts = entry.name.rsplit(".", 2)
        if len(parts) != 3 or not parts[0].endswith(host) or not parts[1].isdigit():
            continue
        if not _alive(int(parts[1])):
            shutil.rmtree(entry, ignore_errors=True)
            removed += 1
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True
