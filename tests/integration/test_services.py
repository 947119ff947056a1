"""`electroloop up`/`down` with real servers: a Prefect server and an MLflow tracking server on
loopback, started once for the module (about 15–25 s on two cores) and always stopped."""

from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from electroloop.errors import ConfigError, ElectroloopError
from electroloop.workflows.services import (
    ServiceConfig,
    ServiceRecord,
    Services,
    client_environment,
    down,
    format_services,
    running,
    state_path,
    up,
)


@dataclass(frozen=True)
class Started:
    home: Path
    services: Services
    stale: Services
    seconds: float


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", ""])
    process.wait()
    return process.pid


def get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=10) as reply:
        return reply.status, reply.read()


def alive(pid: int) -> bool:
    """A live process (a zombie's cmdline is empty)."""
    try:
        return bool(Path(f"/proc/{pid}/cmdline").read_bytes())
    except OSError:
        return False


def processes_mentioning(text: str) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().decode(errors="replace")
        except OSError:
            continue
        if text in args:
            found.append(args.replace("\0", " "))
    return found


def write_stale_state(home: Path) -> Services:
    """What a crashed machine leaves behind: services.json naming processes long gone."""
    record = ServiceRecord(
        name="prefect",
        pid=dead_pid(),
        port=4200,
        url="http://127.0.0.1:4200",
        api_url="http://127.0.0.1:4200/api",
        log=home / "logs" / "prefect-server.log",
        started_at="2026-01-01T00:00:00Z",  # type: ignore[arg-type]
        backend="sqlite+aiosqlite:///x.db",
        data=home / "prefect",
    )
    mlflow = record.model_copy(update={"name": "mlflow", "pid": dead_pid(), "port": 5000})
    stale = Services(home=home, prefect=record, mlflow=mlflow)
    home.mkdir(parents=True)
    state_path(home).write_text(stale.model_dump_json(), encoding="utf-8")
    return stale


@pytest.fixture(scope="module")
def started(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Started]:
    """Both servers on free ports, in a home that holds a stale services.json; stopped at the
    end whatever happens."""
    home = tmp_path_factory.mktemp("services") / "runs"
    stale = write_stale_state(home)
    begin = time.monotonic()
    try:
        services = up(ServiceConfig(home, prefect_port=0, mlflow_port=0))
        yield Started(home, services, stale, time.monotonic() - begin)
    finally:
        down(home)


def test_up_cleans_the_stale_state_file_and_starts_both_servers(started: Started) -> None:
    services = started.services
    print(f"up took {started.seconds:.1f} s")
    assert any("cleaned a stale services.json" in note for note in services.notes)
    for new, old in zip(services.records, started.stale.records, strict=True):
        assert new.pid != old.pid and alive(new.pid)
        assert new.log.is_file()
    assert get(f"{services.prefect.api_url}/health") == (200, b"true")
    assert get(f"{services.mlflow.url}/health")[0] == 200
    assert get(services.prefect.url)[0] == 200  # the UI is served too


def test_a_web_page_of_another_origin_may_not_call_the_prefect_api(started: Started) -> None:
    """A browser asks first (CORS preflight) before a page of another origin may POST JSON;
    Prefect's default answers every origin with '*', which would let any page open on the lab
    PC start a campaign."""
    api = started.services.prefect.api_url

    def preflight(origin: str) -> tuple[int, str | None]:
        request = urllib.request.Request(
            f"{api}/deployments/filter",
            method="OPTIONS",
            headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.headers.get("access-control-allow-origin")
        except urllib.error.HTTPError as error:
            return error.code, error.headers.get("access-control-allow-origin")

    status, allowed = preflight("http://evil.example")
    assert status == 400 and allowed is None
    own = started.services.prefect.url
    assert preflight(own) == (200, own)  # its own UI still works


def status_with_host(url: str, host: str) -> int:
    """The status a server answers a GET whose Host header names `host` (DNS rebinding: a
    hostile name resolved to 127.0.0.1 makes a web page same-origin with the server)."""
    request = urllib.request.Request(url, headers={"Host": host})
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status
    except urllib.error.HTTPError as error:
        return error.code


def test_a_request_for_another_host_name_is_refused(started: Started) -> None:
    prefect, mlflow = started.services.prefect, started.services.mlflow
    search = "/api/2.0/mlflow/experiments/search?max_results=1"  # MLflow leaves /health open
    for record, url in ((prefect, f"{prefect.api_url}/health"), (mlflow, mlflow.url + search)):
        assert status_with_host(url, "evil.example") in (400, 403), record.name
        assert status_with_host(url, f"evil.example:{record.port}") in (400, 403), record.name
        assert status_with_host(url, f"localhost:{record.port}") == 200, record.name


def test_listeners_are_loopback_only(started: Started) -> None:
    """What `ss -ltn` shows during `electroloop up`: both servers on 127.0.0.1 only."""
    listening = Path("/proc/net/tcp").read_text().splitlines()[1:]
    ports = {started.services.prefect.port, started.services.mlflow.port}
    found = {}
    for line in listening:
        local, state = line.split()[1], line.split()[3]
        address, port = local.split(":")
        if state == "0A" and int(port, 16) in ports:  # 0A: LISTEN
            found[int(port, 16)] = socket.inet_ntoa(bytes.fromhex(address)[::-1])
    assert found == {port: "127.0.0.1" for port in ports}
    assert not Path("/proc/net/tcp6").exists() or not any(
        f":{port:04X} " in line and line.split()[3] == "0A"
        for line in Path("/proc/net/tcp6").read_text().splitlines()[1:]
        for port in ports
    )


def test_servers_run_detached_so_they_outlive_the_up_command(started: Started) -> None:
    import os

    for record in started.services.records:
        assert os.getsid(record.pid) == record.pid  # their own session: no terminal signals


def test_the_state_file_records_urls_logs_and_backends_without_secrets(started: Started) -> None:
    home = started.home
    state = json.loads(state_path(home).read_text(encoding="utf-8"))
    prefect, mlflow = state["prefect"], state["mlflow"]
    port = started.services.prefect.port
    assert prefect["url"] == f"http://127.0.0.1:{port}"
    assert prefect["api_url"] == f"http://127.0.0.1:{port}/api"
    assert prefect["log"] == str(home / "logs" / "prefect-server.log")
    assert prefect["data"] == str(home / "prefect")
    assert mlflow["url"] == f"http://127.0.0.1:{started.services.mlflow.port}"
    assert mlflow["log"] == str(home / "logs" / "mlflow-server.log")
    assert mlflow["backend"] == f"sqlite:///{home / 'mlflow.db'}"
    assert mlflow["data"] == str(home / "mlartifacts")
    for entry in (prefect, mlflow):
        assert {"pid", "port", "started_at"} <= entry.keys()
        for value in entry.values():
            if isinstance(value, str) and "://" in value:
                assert urlsplit(value).password is None


def test_a_second_up_returns_the_running_servers_unchanged(started: Started) -> None:
    begin = time.monotonic()
    again = up(ServiceConfig(started.home, prefect_port=0, mlflow_port=0))
    assert time.monotonic() - begin < 10
    assert again.reused and "already running" in again.notes[0]
    assert [r.pid for r in again.records] == [r.pid for r in started.services.records]
    assert "already running" in format_services(again)


def test_running_gives_later_commands_the_servers(started: Started) -> None:
    found = running(started.home)
    assert found is not None and found.records == started.services.records
    assert client_environment(found) == {
        "PREFECT_API_URL": started.services.prefect.api_url,
        "ELECTROLOOP_TRACKING_URI": started.services.mlflow.url,
    }


def test_an_mlflow_client_writes_into_the_home_database_and_artifact_folder(
    started: Started,
) -> None:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(started.services.mlflow.url)
    experiment_id = client.create_experiment("services-it")
    run = client.create_run(experiment_id)
    client.log_text(run.info.run_id, "dosed 4.000 g", "notes/dosing.txt")
    with sqlite3.connect(started.home / "mlflow.db") as db:
        names = {row[0] for row in db.execute("select name from experiments")}
    assert "services-it" in names
    (artifact,) = (started.home / "mlartifacts").rglob("dosing.txt")
    assert artifact.read_text() == "dosed 4.000 g"


def test_the_prefect_server_keeps_its_database_under_the_home(started: Started) -> None:
    request = urllib.request.Request(
        f"{started.services.prefect.api_url}/flows/",
        data=json.dumps({"name": "services-it"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as reply:
        assert reply.status in (200, 201)
    database = started.home / "prefect" / "prefect.db"
    with sqlite3.connect(database) as db:
        names = {row[0] for row in db.execute("select name from flow")}
    assert "services-it" in names


def test_a_busy_port_fails_before_anything_starts(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ConfigError, match=rf"prefect_port: port {port} .*--prefect-port"):
            up(ServiceConfig(tmp_path, prefect_port=port, mlflow_port=0))
    assert not state_path(tmp_path).exists()
    assert not (tmp_path / "logs").exists()
    assert processes_mentioning(str(tmp_path)) == []


def test_a_server_that_fails_to_start_stops_the_other_and_shows_its_log(tmp_path: Path) -> None:
    """Prefect on a PostgreSQL nobody serves exits within seconds; MLflow, launched alongside,
    must not be left running, and the password appears nowhere."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        nobody = closed.getsockname()[1]
    url = f"postgresql+asyncpg://lab:hunter2@127.0.0.1:{nobody}/prefect"
    try:
        with pytest.raises(ElectroloopError) as failure:
            up(ServiceConfig(tmp_path, prefect_port=0, mlflow_port=0, prefect_database_url=url))
    finally:
        down(tmp_path)
    message = str(failure.value)
    assert message.startswith("Prefect server on port ")
    assert str(tmp_path / "logs" / "prefect-server.log") in message
    assert "Connect call failed" in message  # the log's last lines
    assert "hunter2" not in message
    assert not state_path(tmp_path).exists()
    assert processes_mentioning(str(tmp_path)) == []
    for log in (tmp_path / "logs").iterdir():
        assert "hunter2" not in log.read_text(errors="replace")


def test_down_stops_both_and_a_second_down_is_a_no_op(started: Started) -> None:
    """Runs last: it stops the module's servers."""
    lines = down(started.home)
    assert [line.split(" (")[0] for line in lines] == [
        "stopped Prefect server",
        "stopped MLflow server",
    ]
    for record in started.services.records:
        assert not alive(record.pid)
        with (
            pytest.raises(ConnectionRefusedError),
            socket.create_connection(("127.0.0.1", record.port), timeout=2),
        ):
            pass
    assert processes_mentioning(str(started.home)) == []
    assert not state_path(started.home).exists()
    assert running(started.home) is None
    (line,) = down(started.home)
    assert line.startswith("nothing to stop")
