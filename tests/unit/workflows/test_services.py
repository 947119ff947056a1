"""`electroloop up`/`down` without starting servers: validation, the state file, and never
signalling a process that is not ours."""

from __future__ import annotations

import socket
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from electroloop.errors import ConfigError
from electroloop.settings import Settings
from electroloop.workflows import services as svc
from electroloop.workflows.services import (
    ServiceConfig,
    ServiceRecord,
    Services,
    client_environment,
    down,
    format_services,
    redact,
    running,
    state_path,
    up,
)


def dead_pid() -> int:
    """A pid that has just exited (and been reaped)."""
    process = subprocess.Popen([sys.executable, "-c", ""])
    process.wait()
    return process.pid


def recorded(home: Path, prefect_pid: int, mlflow_pid: int) -> Services:
    """Write a services.json as `up` would, for processes that are not servers."""
    now = datetime.now(UTC)

    def record(name: str, pid: int, port: int) -> ServiceRecord:
        url = f"http://127.0.0.1:{port}"
        return ServiceRecord(
            name=name,  # type: ignore[arg-type]
            pid=pid,
            port=port,
            url=url,
            api_url=f"{url}/api" if name == "prefect" else url,
            log=home / "logs" / f"{name}-server.log",
            started_at=now,
            backend=f"sqlite:///{home / (name + '.db')}",
            data=home / name,
        )

    services = Services(
        home=home, prefect=record("prefect", prefect_pid, 1), mlflow=record("mlflow", mlflow_pid, 2)
    )
    home.mkdir(parents=True, exist_ok=True)
    state_path(home).write_text(services.model_dump_json(), encoding="utf-8")
    return services


@pytest.mark.parametrize("field", ["prefect_port", "mlflow_port"])
@pytest.mark.parametrize("port", [-1, 65536, "4200", True, 42.0])
def test_a_port_outside_0_to_65535_names_the_field_and_range(
    tmp_path: Path, field: str, port: object
) -> None:
    with pytest.raises(ConfigError, match=rf"{field}: .* allowed: an integer 0\.\.65535"):
        ServiceConfig(tmp_path, **{field: port})  # type: ignore[arg-type]


def test_port_0_and_65535_are_allowed_and_equal_ports_are_not(tmp_path: Path) -> None:
    ServiceConfig(tmp_path, prefect_port=0, mlflow_port=65535)
    ServiceConfig(tmp_path, prefect_port=0, mlflow_port=0)
    with pytest.raises(ConfigError, match="both 4300"):
        ServiceConfig(tmp_path, prefect_port=4300, mlflow_port=4300)


def test_database_urls_are_checked_and_their_passwords_never_echoed(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"prefect_database_url: .*postgresql\+asyncpg") as bad:
        ServiceConfig(tmp_path, prefect_database_url="postgresql://lab:hunter2@db:5432/prefect")
    assert "hunter2" not in str(bad.value) and "lab:***@db" in str(bad.value)
    with pytest.raises(ConfigError, match="mlflow_backend_uri: 'http://") as bad:
        ServiceConfig(tmp_path, mlflow_backend_uri="http://mlflow.lab:5000")
    with pytest.raises(ConfigError, match="startup_timeout"):
        ServiceConfig(tmp_path, startup_timeout=0)
    ServiceConfig(
        tmp_path,
        prefect_database_url="postgresql+asyncpg://lab:pw@db:5432/prefect",
        mlflow_backend_uri="postgresql://lab:pw@db:5432/mlflow",
    )


def test_defaults_keep_everything_in_the_home_where_settings_look(tmp_path: Path) -> None:
    config = ServiceConfig.from_settings(Settings(home=tmp_path / "runs"))
    settings = Settings(home=tmp_path / "runs")
    assert config.home == settings.resolved_home
    assert config.resolved_prefect_home == settings.resolved_prefect_home == config.home / "prefect"
    assert config.artifact_root == settings.artifact_root
    assert config.resolved_mlflow_backend == settings.resolved_tracking_uri
    assert config.prefect_backend.endswith(f"{config.home}/prefect/prefect.db")
    assert (config.prefect_port, config.mlflow_port) == (4200, 5000)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("sqlite:////tmp/runs/mlflow.db", "sqlite:////tmp/runs/mlflow.db"),
        ("postgresql+asyncpg://lab:s3cr@t@db:5432/p", "postgresql+asyncpg://lab:***@db:5432/p"),
        ("postgresql://lab@db/m?sslmode=require&password=pw", "postgresql://lab@db/m?sslmode=require&password=***"),
    ],
)  # fmt: skip
def test_redact_hides_passwords_only(url: str, shown: str) -> None:
    assert redact(url) == shown


def test_the_server_environment_drops_an_inherited_prefect_api_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PREFECT_API_URL", "http://elsewhere:4200/api")
    monkeypatch.setenv("PREFECT_API_DATABASE_CONNECTION_URL", "sqlite+aiosqlite:////elsewhere.db")
    config = ServiceConfig(tmp_path, prefect_database_url="postgresql+asyncpg://lab:pw@db/p")
    env = svc._prefect_environment(config, 4321)
    assert env["PREFECT_API_URL"] == "http://127.0.0.1:4321/api"
    assert env["PREFECT_HOME"] == str(tmp_path.resolve() / "prefect")
    assert env["PREFECT_API_DATABASE_CONNECTION_URL"] == "postgresql+asyncpg://lab:pw@db/p"
    assert env["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"
    plain = svc._prefect_environment(ServiceConfig(tmp_path), 4321)
    assert "PREFECT_API_DATABASE_CONNECTION_URL" not in plain


def test_down_with_nothing_recorded_is_a_clean_no_op(tmp_path: Path) -> None:
    (line,) = down(tmp_path)
    assert line.startswith("nothing to stop") and "services.json" in line
    assert running(tmp_path) is None


def test_a_stale_state_file_is_not_running_and_down_removes_it(tmp_path: Path) -> None:
    stale = recorded(tmp_path, dead_pid(), dead_pid())
    assert running(tmp_path) is None
    assert down(tmp_path) == [
        f"Prefect server (pid {stale.prefect.pid}) was not running",
        f"MLflow server (pid {stale.mlflow.pid}) was not running",
    ]
    assert not state_path(tmp_path).exists()
    assert down(tmp_path)[0].startswith("nothing to stop")


def test_a_recorded_pid_that_is_now_another_program_is_never_signalled(tmp_path: Path) -> None:
    stranger = subprocess.Popen(["sleep", "30"])  # e.g. the OS reused the server's pid
    try:
        recorded(tmp_path, stranger.pid, dead_pid())
        assert running(tmp_path) is None
        lines = down(tmp_path)
        assert lines[0] == f"Prefect server (pid {stranger.pid}) was not running"
        assert stranger.poll() is None  # still alive
    finally:
        stranger.kill()
        stranger.wait()


def test_up_with_a_busy_port_fails_before_starting_anything(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        recorded(tmp_path, dead_pid(), dead_pid())
        with pytest.raises(ConfigError, match=rf"mlflow_port: port {port} .*--mlflow-port"):
            up(ServiceConfig(tmp_path, prefect_port=0, mlflow_port=port))
    assert not state_path(tmp_path).exists()  # the stale file was cleaned first
    assert not (tmp_path / "logs").exists()  # and nothing was started


def test_a_corrupt_state_file_is_reported_by_up_and_down_but_not_by_running(
    tmp_path: Path,
) -> None:
    state_path(tmp_path).write_text("{not json", encoding="utf-8")
    assert running(tmp_path) is None
    for command in (lambda: down(tmp_path), lambda: up(ServiceConfig(tmp_path))):
        with pytest.raises(ConfigError, match="services.json: not a services file"):
            command()


def test_format_and_client_environment_point_at_the_recorded_servers(tmp_path: Path) -> None:
    services = recorded(tmp_path, 10, 11)
    text = format_services(services)
    for needle in ("http://127.0.0.1:1", "http://127.0.0.1:2", "prefect-server.log"):
        assert needle in text
    assert text.endswith("stop with: electroloop down")
    assert client_environment(services) == {
        "PREFECT_API_URL": "http://127.0.0.1:1/api",
        "ELECTROLOOP_TRACKING_URI": "http://127.0.0.1:2",
    }
