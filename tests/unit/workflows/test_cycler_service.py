"""The detached cycler simulator: started, re-attached, outliving its starter, and stopped.

Every test runs the real process (`python -m electroloop.instruments.sim.cycler_process`) and
talks to it over TCP through the driver; a finalizer always stops it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from electroloop.errors import ConfigError, ElectroloopError, InstrumentError
from electroloop.instruments.cycler import (
    ChannelLimits,
    CyclingProtocol,
    MultichannelCycler,
    ProtocolStep,
)
from electroloop.instruments.sim.cell_line import fill_over_link
from electroloop.instruments.transport import open_resource
from electroloop.simulations.cell_circuit import CellSpec
from electroloop.workflows import cycler_service
from electroloop.workflows.cycler_service import (
    CYCLER_MODULE,
    CyclerProcess,
    cycler_process,
    cycler_state_path,
    ensure_cycler,
    stop_cycler,
)

T = MultichannelCycler.TERMINATIONS
Q = 0.005
CONFIG: dict[str, Any] = {"channels": 4, "speedup": 1000.0, "seed": 3}
# C/2 charge (about 2 h of instrument time, 7 s here), then a rest far longer than any test.
LONG = CyclingProtocol(
    (ProtocolStep.cc(Q / 2, 4.2), ProtocolStep.rest(86400.0)), record_interval=60.0
)


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    """A project home whose cycler simulator is always stopped afterwards."""
    yield tmp_path
    stop_cycler(tmp_path)


@pytest.fixture
def connect() -> Iterator[Callable[[CyclerProcess], MultichannelCycler]]:
    opened: list[MultichannelCycler] = []

    def _connect(process: CyclerProcess) -> MultichannelCycler:
        driver = MultichannelCycler(
            open_resource(process.resource, timeout=1.0, **T), limits=ChannelLimits()
        )
        opened.append(driver)
        return driver

    yield _connect
    for driver in opened:
        driver.close()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # our own child: a zombie counts as gone
        return os.waitpid(pid, os.WNOHANG) == (0, 0)
    except ChildProcessError:
        return True


def gone(pid: int, within: float = 2.0) -> bool:
    """Whether `pid` has exited within `within` s: its main thread ends first, the process
    (and the zombie we reap) a moment later, after its server threads."""
    deadline = time.monotonic() + within
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_start_use_reattach_and_stop(home, connect) -> None:
    process = ensure_cycler(home, **CONFIG)
    state = json.loads(cycler_state_path(home).read_text())
    assert state["pid"] == process.pid and state["resource"] == process.resource
    assert process.resource == f"TCPIP::127.0.0.1::{process.port}::SOCKET"
    assert (process.channels, process.speedup, process.seed) == (4, 1000.0, 3)
    assert os.getsid(process.pid) != os.getsid(0)  # its own session: a group kill misses it
    assert CYCLER_MODULE in Path(f"/proc/{process.pid}/cmdline").read_text()
    log = (home / "logs" / "cycler.log").read_text()
    assert f"pid {process.pid}: 4 channels on {process.resource}" in log  # says where it is

    cycler = connect(process)
    assert cycler.identity().startswith("Electroloop Sim,CYC-4,")
    assert cycler.channel_count() == 4
    fill_over_link(cycler.resource, 2, CellSpec(electrolyte_conductivity=8.0, sei_multiplier=0.6))
    cycler.load(2, LONG)
    assert cycler.start(2).state == "RUNNING"
    cycler.close()

    again = ensure_cycler(home, **CONFIG)  # the orchestrator restarted: re-attach
    assert again == process  # the same process, read back from its state file
    assert cycler_process(home) == process
    cycler = connect(again)
    status = cycler.status(2)
    assert status.state == "RUNNING" and status.time > 0.0
    assert cycler.resource.query("SIM:CHAN2:FILL?").endswith(",6.000000E-01")

    assert stop_cycler(home) is True
    assert gone(process.pid)
    assert not cycler_state_path(home).exists()
    assert cycler_process(home) is None
    with pytest.raises(InstrumentError, match="cannot"):
        open_resource(process.resource, timeout=0.5, **T)
    assert stop_cycler(home) is False  # nothing left to stop


def test_cycler_outlives_a_killed_orchestrator(home, connect) -> None:
    """An orchestrator (here a child in its own session) starts the cycler and a test, then is
    killed with its whole process group; the cycler keeps running it."""
    script = (
        "import sys; from pathlib import Path\n"
        "from electroloop.workflows.cycler_service import ensure_cycler\n"
        "p = ensure_cycler(Path(sys.argv[1]), channels=4, speedup=1000.0, seed=3)\n"
        "print(p.pid, flush=True)\n"
        "import time; time.sleep(60)\n"
    )
    orchestrator = subprocess.Popen(
        [sys.executable, "-c", script, str(home)],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert orchestrator.stdout is not None
        pid = int(orchestrator.stdout.readline())
        process = cycler_process(home)
        assert process is not None and process.pid == pid
        cycler = connect(process)
        cycler.load(1, LONG)
        cycler.start(1)
    finally:
        os.killpg(orchestrator.pid, signal.SIGKILL)
        orchestrator.wait()
        assert orchestrator.stdout is not None
        orchestrator.stdout.close()
    assert alive(pid)
    again = ensure_cycler(home, **CONFIG)
    assert again.pid == pid
    assert connect(again).status(1).state == "RUNNING"


def test_a_killed_cycler_comes_back_at_its_address(home, connect) -> None:
    """A rebooted instrument keeps its address: a running orchestrator and the channel leases
    name it, so the simulator started after a crash listens where the dead one did."""
    first = ensure_cycler(home, **CONFIG)
    os.kill(first.pid, signal.SIGKILL)
    assert gone(first.pid)
    again = ensure_cycler(home, **CONFIG)
    assert again.pid != first.pid and again.resource == first.resource
    assert connect(again).status(1).state == "IDLE"  # a new instrument: its tests are gone


def test_a_different_configuration_is_refused_not_replaced(home) -> None:
    process = ensure_cycler(home, **CONFIG)
    with pytest.raises(ConfigError, match=r"channels: running 4, asked 8.*stop_cycler"):
        ensure_cycler(home, **(CONFIG | {"channels": 8}))
    with pytest.raises(ConfigError, match=r"speedup: running 1000.0, asked 10.0"):
        ensure_cycler(home, **(CONFIG | {"speedup": 10.0}))
    with pytest.raises(ConfigError, match=r"max_current: running 0.1, asked 0.05"):
        ensure_cycler(home, **CONFIG, max_current=0.05)
    assert cycler_process(home) == process  # still the same one, untouched


def test_a_stale_state_file_is_replaced(home) -> None:
    dead = subprocess.Popen([sys.executable, "-c", ""])
    dead.wait()
    path = cycler_state_path(home)
    path.parent.mkdir(parents=True)
    stale = {
        "resource": "TCPIP::127.0.0.1::9::SOCKET",
        "port": 9,
        "pid": dead.pid,
        "channels": 4,
        "speedup": 1000.0,
        "seed": 3,
    }
    path.write_text(json.dumps(stale))
    assert cycler_process(home) is None
    process = ensure_cycler(home, **CONFIG)
    assert process.pid != dead.pid and alive(process.pid)


def test_a_live_process_that_is_not_ours_is_never_signalled(home) -> None:
    """A recorded pid the OS gave to another program: forgotten, not killed."""
    path = cycler_state_path(home)
    path.parent.mkdir(parents=True)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        record = {"resource": "TCPIP::127.0.0.1::9::SOCKET", "port": 9, "pid": other.pid}
        path.write_text(json.dumps(record | {"channels": 4, "speedup": 1.0, "seed": 0}))
        assert cycler_process(home) is None
        assert stop_cycler(home) is False
        assert other.poll() is None and not path.exists()
    finally:
        other.kill()
        other.wait()


def test_foreign_state_file_and_bad_arguments_are_config_errors(home) -> None:
    path = cycler_state_path(home)
    path.parent.mkdir(parents=True)
    path.write_text('{"pid": "one"}')
    with pytest.raises(ConfigError, match=r"not a cycler state file electroloop wrote"):
        ensure_cycler(home, **CONFIG)
    assert cycler_process(home) is None
    path.unlink()
    for bad, message in (
        ({"channels": 0}, r"channels is 0; allowed: 1..64"),
        ({"speedup": 0.0}, r"speedup is 0.0; allowed: a finite number > 0"),
        ({"seed": -1}, r"seed is -1; allowed: an integer >= 0"),
    ):
        with pytest.raises(ConfigError, match=message):
            ensure_cycler(home, **(CONFIG | bad))
    with pytest.raises(ConfigError, match=r"max_current is -1.0 A; allowed: > 0 A"):
        ensure_cycler(home, **CONFIG, max_current=-1.0)
    assert not path.exists()


def test_a_simulator_that_cannot_start_reports_its_log(home, monkeypatch) -> None:
    """The child exits at once (here: its module is missing); the error quotes its log."""
    monkeypatch.setattr(cycler_service, "CYCLER_MODULE", "electroloop.instruments.sim.missing")
    with pytest.raises(ElectroloopError, match=r"(?s)exited with code 1.*cycler.log.*missing"):
        ensure_cycler(home, **CONFIG)
    assert not cycler_state_path(home).exists()
