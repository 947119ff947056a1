"""Processes electroloop starts to outlive it (servers, the simulated cycler): find them again
by pid without ever signalling somebody else's, stop their whole group, one start at a time.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = [
    "command_line",
    "group_alive",
    "locked",
    "log_offset",
    "orphaned_prefect_servers",
    "reap",
    "signal_group",
    "terminate",
]


def command_line(pid: int) -> list[str] | None:
    """The process's arguments, or None if it is gone (or a zombie: an empty cmdline)."""
    proc = Path(f"/proc/{pid}/cmdline")
    if Path("/proc/self").exists():
        try:
            raw = proc.read_bytes()
        except OSError:
            return None
        return raw.decode(errors="replace").split("\0")[:-1] or None
    reply = subprocess.run(
        ["ps", "-o", "command=", "-p", str(pid)], capture_output=True, text=True, check=False
    )
    return reply.stdout.split() or None


def orphaned_prefect_servers(prefect_home: Path) -> list[int]:
    """Temporary Prefect servers (uvicorn serving `prefect.server.api.server:create_app`) of
    this `PREFECT_HOME` whose parent is gone (adopted by PID 1): what a run killed with SIGKILL
    leaves behind, holding its port. Servers of `electroloop up` are never among them (they
    run `prefect server start`)."""
    wanted = f"PREFECT_HOME={prefect_home}".encode()
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        args = command_line(int(entry.name))
        if not args or not any("prefect.server.api.server:create_app" in a for a in args):
            continue
        try:
            environment = (entry / "environ").read_bytes().split(b"\0")
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if parent == 1 and wanted in environment:
            found.append(int(entry.name))
    return found


def reap(pid: int) -> None:
    """Collect the exit status if the server is our own child (it is in tests), so a dead
    server does not linger as a zombie that still looks alive."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def group_alive(pid: int) -> bool:
    reap(pid)
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return _group_has_members(pid)


def _group_has_members(pgid: int) -> bool:
    """Whether anything but zombies is left in the process group (MLflow's workers)."""
    proc = Path("/proc")
    if not proc.exists():
        return True
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rpartition(")")[2].split()
        if len(fields) > 2 and fields[0] != "Z" and int(fields[2]) == pgid:
            return True
    return False


def signal_group(pid: int, signum: signal.Signals) -> None:
    """Signal the server's whole process group (MLflow runs workers). We started it as a
    session leader, so the group id is its pid, and it stays ours while any member lives,
    even after the leader itself has gone."""
    try:
        os.killpg(pid, signum)
    except ProcessLookupError:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass


def terminate(pids: list[int], timeout: float) -> set[int]:
    """SIGTERM every server, wait up to `timeout`, SIGKILL the rest; return the killed pids."""
    for pid in pids:
        signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(group_alive(p) for p in pids):
        time.sleep(0.2)
    killed = {p for p in pids if group_alive(p)}
    for pid in killed:
        signal_group(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline and any(group_alive(p) for p in killed):
        time.sleep(0.1)
    return killed


@contextmanager
def locked(home: Path) -> Iterator[None]:
    """One start or stop at a time per folder (`up`/`down`, the simulated cycler): two
    technicians must not start two of the same server."""
    home.mkdir(parents=True, exist_ok=True)
    with (home / ".services.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def log_offset(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0
