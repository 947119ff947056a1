"""The project's simulated cycler as a detached process that outlives the orchestrator.

Cycling tests run for days of instrument time, and the orchestrator that loaded them may be
killed and restarted meanwhile. A real cycler keeps cycling through that, so the simulated one
must too: `ensure_cycler` starts `electroloop.instruments.sim.cycler_process` in its own session
(a kill of the orchestrator's process group does not reach it) and records it in
``<home>/simulators/cycler.json``; after a restart the same call finds it alive and answering
``*IDN?`` and re-attaches instead of starting another. `stop_cycler` ends it. Output goes to
``<home>/logs/cycler.log``. Process handling is `services`' (the Prefect and MLflow servers of
`electroloop up`/`down`).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from typing import Any

from electroloop.errors import ConfigError, ElectroloopError
from electroloop.instruments.cycler import MultichannelCycler
from electroloop.instruments.neware import NewareCycler
from electroloop.instruments.transport import open_resource
from electroloop.workflows.processes import command_line, locked, log_offset, reap, terminate

__all__ = [
    "CYCLER_MODULE",
    "SIMULATORS",
    "CyclerProcess",
    "cycler_process",
    "cycler_state_path",
    "ensure_cycler",
    "stop_cycler",
]

CYCLER_MODULE = "electroloop.instruments.sim.cycler_process"
STATE_FILE = Path("simulators") / "cycler.json"
NEWARE_STATE_FILE = Path("simulators") / "neware.json"
SIMULATORS = {"electroloop-cycler": STATE_FILE, "neware-bts": NEWARE_STATE_FILE}
"""Cycler driver -> the state file of the simulator process that speaks to it."""
LOG_FILE = Path("logs") / "cycler.log"
STARTUP_TIMEOUT = 30.0
"""Seconds to wait for the ready file (the simulator imports PyBaMM's OCV tables: about 2 s)."""
STOP_TIMEOUT = 10.0
"""Seconds `stop_cycler` waits after SIGTERM before it sends SIGKILL."""
IDN_TIMEOUT = 2.0  # s: a live loopback simulator answers in milliseconds
IDN_PREFIX = "Electroloop Sim,CYC-"
MAX_CHANNELS = 64
LOG_TAIL_LINES = 20


@dataclass(frozen=True)
class CyclerProcess:
    """A running simulated cycler: where to connect (`resource`) and what it simulates."""

    resource: str
    port: int
    pid: int
    channels: int
    speedup: float
    seed: int
    max_current: float = 0.1
    started_at: str = ""

    def differences(
        self, *, channels: int, speedup: float, seed: int, max_current: float
    ) -> list[str]:
        """What differs from the asked configuration, as ``name: running X, asked Y``."""
        asked = {"channels": channels, "speedup": speedup, "seed": seed, "max_current": max_current}
        return [
            f"{name}: running {getattr(self, name)!r}, asked {value!r}"
            for name, value in asked.items()
            if getattr(self, name) != value
        ]


_FIELD_TYPES: dict[str, type | tuple[type, ...]] = {
    "resource": str,
    "port": int,
    "pid": int,
    "channels": int,
    "speedup": (int, float),
    "seed": int,
    "max_current": (int, float),
    "started_at": str,
}


def cycler_state_path(home: Path, driver: str = "electroloop-cycler") -> Path:
    """``<home>/simulators/cycler.json`` (``neware.json`` for ``neware-bts``): the simulator's
    ready file and our record of it."""
    if driver not in SIMULATORS:
        raise ConfigError(f"cycler driver {driver!r}; allowed: {', '.join(SIMULATORS)}")
    return Path(home).expanduser().resolve() / SIMULATORS[driver]


def _driver(path: Path) -> str:
    """The cycler driver whose simulator's state file `path` is."""
    return next(d for d, f in SIMULATORS.items() if f.name == path.name)


def _read_state(path: Path) -> CyclerProcess | None:
    """The recorded simulator, None without a file; `ConfigError` for a file we did not write."""
    try:
        raw: Any = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise _foreign(path, f"unreadable ({exc})") from None
    if not isinstance(raw, dict):
        raise _foreign(path, "not a JSON object")
    values: dict[str, Any] = {}
    for field in fields(CyclerProcess):
        kind = _FIELD_TYPES[field.name]
        value = raw.get(field.name, field.default)
        if value is MISSING:
            raise _foreign(path, f"no {field.name}")
        if isinstance(value, bool) or not isinstance(value, kind):
            raise _foreign(path, f"{field.name} is {value!r}")
        values[field.name] = value
    return CyclerProcess(**values)


def _foreign(path: Path, why: str) -> ConfigError:
    return ConfigError(
        f"{path}: not a cycler state file electroloop wrote ({why}); stop any cycler simulator "
        "it started by hand, then delete the file"
    )


def _alive(state: CyclerProcess, path: Path) -> bool:
    """Whether the recorded pid is still our simulator for this home: the OS reuses pids, and
    we must never signal somebody else's process."""
    reap(state.pid)
    args = command_line(state.pid)
    return args is not None and CYCLER_MODULE in args and str(path) in args


def _answers(state: CyclerProcess) -> bool:
    """Whether the simulator answers ``*IDN?`` as a cycler with the recorded channel count
    (a Neware one: logs in and lists as many pipelines)."""
    if not state.resource.startswith("TCPIP"):
        try:
            neware = NewareCycler(state.resource, step_folder=Path("."), timeout=IDN_TIMEOUT)
            try:
                return neware.channel_count() == state.channels
            finally:
                neware.close()
        except ElectroloopError:
            return False
    try:
        resource = open_resource(
            state.resource, timeout=IDN_TIMEOUT, **MultichannelCycler.TERMINATIONS
        )
    except ElectroloopError:
        return False
    try:
        identity = str(resource.query("*IDN?"))
    except Exception:  # noqa: BLE001  any failed exchange means: not usable
        return False
    finally:
        resource.close()
    return identity.startswith(f"{IDN_PREFIX}{state.channels},")


def _check(channels: int, speedup: float, seed: int, max_current: float) -> None:
    if isinstance(channels, bool) or not isinstance(channels, int):
        raise ConfigError(f"channels is {channels!r}; allowed: an integer 1..{MAX_CHANNELS}")
    if not 1 <= channels <= MAX_CHANNELS:
        raise ConfigError(f"channels is {channels}; allowed: 1..{MAX_CHANNELS}")
    if not (isinstance(speedup, int | float) and math.isfinite(speedup) and speedup > 0):
        raise ConfigError(f"speedup is {speedup!r}; allowed: a finite number > 0")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"seed is {seed!r}; allowed: an integer >= 0")
    if not (isinstance(max_current, int | float) and math.isfinite(max_current)):
        raise ConfigError(f"max_current is {max_current!r}; allowed: a finite number > 0 A")
    if not max_current > 0:
        raise ConfigError(f"max_current is {max_current} A; allowed: > 0 A")


# --- public API ---------------------------------------------------------------------------


def cycler_process(home: Path, driver: str | None = None) -> CyclerProcess | None:
    """The recorded simulator if its process is alive, else None (also for a foreign file);
    without a `driver`, the first alive of every kind (`SIMULATORS`)."""
    if driver is None:
        found = (cycler_process(home, kind) for kind in SIMULATORS)
        return next((state for state in found if state is not None), None)
    path = cycler_state_path(home, driver)
    try:
        state = _read_state(path)
    except ConfigError:
        return None
    return state if state is not None and _alive(state, path) else None


def ensure_cycler(
    home: Path,
    *,
    channels: int,
    speedup: float,
    seed: int,
    max_current: float = 0.1,
    driver: str = "electroloop-cycler",
) -> CyclerProcess:
    """The project's simulated cycler: the recorded one if alive and answering (re-attach after
    an orchestrator restart), else a newly started one: on the dead one's port if it is free,
    as a rebooted instrument comes back at its address, so a live orchestrator reconnects.

    Raises `ConfigError` if the running one was started with other channels, speedup, seed or
    max current (`stop_cycler` it first: that ends its running tests), `ElectroloopError` if a
    new one exits or is not ready within `STARTUP_TIMEOUT` s (with the tail of its log).
    `driver` picks the simulator (`SIMULATORS`): the SCPI cycler or the Neware BTS.
    """
    path = cycler_state_path(home, driver)
    _check(channels, speedup, seed, max_current)
    speedup, max_current = float(speedup), float(max_current)
    with locked(path.parent):  # one start per home, whoever asks
        state = _read_state(path)
        if state is not None:
            alive = _alive(state, path)
            if alive and _answers(state):
                differences = state.differences(
                    channels=channels, speedup=speedup, seed=seed, max_current=max_current
                )
                if differences:
                    raise ConfigError(
                        f"the cycler simulator running for {path.parent.parent} (pid {state.pid}) "
                        f"differs from what was asked: {'; '.join(differences)}. Run "
                        "electroloop.workflows.cycler_service.stop_cycler(home) first (it ends "
                        "every test on the cycler), or ask for what runs"
                    )
                return state
            if alive:  # our process, but not answering: hung; replace it
                terminate([state.pid], STOP_TIMEOUT)
            path.unlink(missing_ok=True)
            try:  # back at its address, as a rebooted instrument: orchestrators reconnect
                return _start(
                    path,
                    channels=channels,
                    speedup=speedup,
                    seed=seed,
                    max_current=max_current,
                    port=state.port,
                )
            except ElectroloopError:  # the port was taken meanwhile
                pass
        return _start(path, channels=channels, speedup=speedup, seed=seed, max_current=max_current)


def stop_cycler(home: Path, driver: str | None = None) -> bool:
    """Stop the recorded simulator (SIGTERM, SIGKILL after `STOP_TIMEOUT` s) and forget it;
    True if a process was stopped. Every test running on it ends. Without a `driver`, every
    kind (`SIMULATORS`) is stopped."""
    if driver is None:
        return any([stop_cycler(home, kind) for kind in SIMULATORS])
    path = cycler_state_path(home, driver)
    if not path.exists():
        return False
    with locked(path.parent):
        state = _read_state(path)
        if state is None:
            return False
        stopped = _alive(state, path)
        if stopped:
            terminate([state.pid], STOP_TIMEOUT)
        path.unlink(missing_ok=True)
        return stopped


# --- starting -----------------------------------------------------------------------------


def _start(
    path: Path, *, channels: int, speedup: float, seed: int, max_current: float, port: int = 0
) -> CyclerProcess:
    home = path.parent.parent
    log = home / LOG_FILE
    log.parent.mkdir(parents=True, exist_ok=True)
    offset = log_offset(log)
    command = [
        sys.executable,
        "-m",
        CYCLER_MODULE,
        "--driver",
        _driver(path),
        "--channels",
        str(channels),
        "--speedup",
        repr(speedup),
        "--seed",
        str(seed),
        "--port",
        str(port),
        "--max-current",
        repr(max_current),
        "--ready-file",
        str(path),
    ]
    with log.open("ab") as out:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=home,
            start_new_session=True,  # outlives the orchestrator and a kill of its group
        )
    try:
        return _wait_ready(path, process, log, offset)
    except BaseException:
        terminate([process.pid], STOP_TIMEOUT)  # also on Ctrl-C: leave nothing half-started
        path.unlink(missing_ok=True)
        raise


def _wait_ready(
    path: Path, process: subprocess.Popen[bytes], log: Path, offset: int
) -> CyclerProcess:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        state = _read_state(path)  # written atomically: absent or whole
        if state is not None and state.pid == process.pid:
            return state
        code = process.poll()
        if code is not None:
            raise _failure(f"exited with code {code}", log, offset)
        if time.monotonic() > deadline:
            raise _failure(f"wrote no {path} within {STARTUP_TIMEOUT:.0f} s", log, offset)
        time.sleep(0.05)


def _failure(why: str, log: Path, offset: int) -> ElectroloopError:
    try:
        with log.open("rb") as text:
            text.seek(offset)
            lines = text.read().decode(errors="replace").splitlines()[-LOG_TAIL_LINES:]
    except OSError:
        lines = []
    tail = "\n".join("    " + line for line in lines) or "    (empty)"
    return ElectroloopError(
        f"the cycler simulator ({CYCLER_MODULE}) {why}; nothing was left running. "
        f"Log {log}, last lines:\n{tail}"
    )
