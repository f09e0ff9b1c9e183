"""What the benchmarks share: a throwaway database on the configured server, a timed command."""

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent


def throwaway_database(url: str, directory: Path) -> tuple[str, callable]:
    parsed = urlparse(url)
    if parsed.scheme.startswith("postgres"):
        import psycopg

        name = f"bench_{os.getpid()}"
        admin = urlunparse(parsed._replace(path="/postgres"))
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name}")
            conn.execute(f"CREATE DATABASE {name}")

        def drop():
            from django.db import connections

            connections.close_all()
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

        return urlunparse(parsed._replace(path=f"/{name}")), drop
    return f"sqlite:///{directory / 'bench.sqlite3'}", lambda: None


def tree_memory(pid: int) -> float:
    """The memory of a process and all its descendants, in MB: their proportional set sizes, so
    pages a forked process shares with its parent count once (Linux ``/proc``)."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    parents[int(entry)] = int(handle.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    tree, grown = {pid}, True
    while grown:
        more = {child for child, parent in parents.items() if parent in tree} - tree
        tree |= more
        grown = bool(more)
    total = 0
    for member in tree:
        try:
            with open(f"/proc/{member}/smaps_rollup") as handle:
                total += next(int(line.split()[1]) for line in handle if line.startswith("Pss:"))
        except (OSError, IndexError, ValueError, StopIteration):
            continue
    return total / 1024


def run_command(args: list[str], env: dict) -> tuple[float, float, str]:
    """Run a manage.py command in its own process: (seconds, peak memory in MB, last line of output).

    The peak is that of the command with the processes it starts (an import's booking processes),
    sampled every 0.1 s, or the command's own peak if that is higher."""
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "manage.py", *args], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak, done = [0.0], threading.Event()

    def sample():
        while not done.wait(0.1):
            peak[0] = max(peak[0], tree_memory(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    done.set()
    sampler.join()
    out, err = proc.stdout.read(), proc.stderr.read()
    if os.waitstatus_to_exitcode(status) not in (0, 1):
        raise SystemExit(f"{' '.join(args)} failed:\n{err[-2000:]}")
    return elapsed, max(peak[0], usage.ru_maxrss / 1024), (out.strip().splitlines() or [""])[-1]


def django_on(url: str) -> dict:
    """Point this process at the database ``url``, set Django up, migrate and load the default
    program. Returns the environment for child processes (commands, workers) on the same database."""
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_DEBUG": "false"}
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.core.management import call_command

    from membership.services import program_load

    call_command("migrate", verbosity=0)
    program_load(name="default")
    return env
