"""A run killed with SIGKILL cannot stop the temporary Prefect server it started; the server
stays, adopted by PID 1, holding its port. The next command in that home stops it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import tomli_w

from electroloop.kinds.electrolyte.campaign import default_campaign
from electroloop.settings import Settings
from electroloop.workflows.processes import command_line, orphaned_prefect_servers


def temporary_servers(prefect_home: Path) -> list[int]:
    """Every temporary Prefect server of this home, orphaned or not."""
    wanted = f"PREFECT_HOME={prefect_home}".encode()
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        args = command_line(int(entry.name)) or []
        try:
            environment = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if any("prefect.server.api.server:create_app" in a for a in args) and wanted in environment:
            found.append(int(entry.name))
    return found


def test_the_next_command_stops_the_server_a_killed_run_left(tmp_path: Path) -> None:
    home = tmp_path / "home"
    prefect_home = Settings(home=home).resolved_prefect_home
    campaign = tmp_path / "campaign.toml"
    design = default_campaign().model_dump(mode="json", exclude_none=True)
    campaign.write_text(tomli_w.dumps(design | {"planner": "sobol", "budget": 400}), "utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "ELECTROLOOP_"))}
    run = subprocess.Popen(
        [sys.executable, "-m", "electroloop.cli", "--home", str(home), "run", str(campaign)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        while not temporary_servers(prefect_home) and time.monotonic() < deadline:
            assert run.poll() is None, "the run ended before its server started"
            time.sleep(0.5)
        servers = temporary_servers(prefect_home)
        assert servers, "no temporary Prefect server started"
        os.kill(run.pid, signal.SIGKILL)  # the orchestrator only, as `kill -9 PID` does
        run.wait(timeout=30)
        deadline = time.monotonic() + 30
        while not orphaned_prefect_servers(prefect_home) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert orphaned_prefect_servers(prefect_home) == servers  # the bug: left behind
        # what every later command of this home does first, in a process of its own
        later = (
            "from electroloop.cli.common import prepare_environment\n"
            "from electroloop.settings import Settings\n"
            f"prepare_environment(Settings(home={str(home)!r}))\n"
        )
        said = subprocess.run(
            [sys.executable, "-c", later], env=env, capture_output=True, text=True, check=True
        )
        assert f"temporary Prefect server (pid {servers[0]})" in said.stdout
        deadline = time.monotonic() + 30
        while temporary_servers(prefect_home) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert temporary_servers(prefect_home) == []
    finally:
        for pid in temporary_servers(prefect_home):
            os.kill(pid, signal.SIGKILL)
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
