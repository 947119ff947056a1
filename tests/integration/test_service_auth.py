"""`electroloop up` with the lab's credentials: both servers ask for them, and exposing the
servers beyond loopback without credentials is refused before anything starts."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from electroloop.errors import ConfigError
from electroloop.workflows.services import Credentials, ServiceConfig, Services, down, up

USER, PASSWORD = "labadmin", "correct-horse-battery"


def status(url: str, *, auth: tuple[str, str] | None = None, data: bytes | None = None) -> int:
    headers = {"Content-Type": "application/json"}
    if auth is not None:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    request = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=20) as reply:
            return reply.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    home = tmp_path_factory.mktemp("auth") / "runs"
    config = ServiceConfig(
        home, prefect_port=0, mlflow_port=0, credentials=Credentials(USER, PASSWORD)
    )
    try:
        yield up(config)
    finally:
        down(home)


def test_the_prefect_api_asks_for_the_credentials(guarded: Services) -> None:
    api = guarded.prefect.api_url
    assert status(f"{api}/health") == 200  # health stays open: `up` and monitors poll it
    query = json.dumps({"limit": 1}).encode()
    assert status(f"{api}/flows/filter", data=query) == 401
    assert status(f"{api}/flows/filter", data=query, auth=(USER, "wrong-password-1")) == 401
    assert status(f"{api}/flows/filter", data=query, auth=(USER, PASSWORD)) == 200


def test_the_mlflow_api_asks_for_the_credentials(guarded: Services) -> None:
    search = f"{guarded.mlflow.url}/api/2.0/mlflow/experiments/search?max_results=1"
    assert status(search) == 401
    assert status(search, auth=(USER, "wrong-password-1")) == 401
    assert status(search, auth=(USER, PASSWORD)) == 200


def test_an_mlflow_client_given_the_lab_credentials_logs_in(
    guarded: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow.tracking import MlflowClient

    for key, value in Credentials(USER, PASSWORD).environment().items():
        monkeypatch.setenv(key, value)
    client = MlflowClient(guarded.mlflow.url)
    experiment = client.create_experiment("auth-check")
    assert client.get_experiment(experiment).name == "auth-check"


def test_credentials_live_in_the_environment_only(guarded: Services) -> None:
    for path in guarded.home.rglob("*"):
        if path.is_file() and path.stat().st_size < 10_000_000:
            assert PASSWORD.encode() not in path.read_bytes(), path
    for record in guarded.records:
        cmdline = Path(f"/proc/{record.pid}/cmdline").read_bytes()
        assert PASSWORD.encode() not in cmdline, record.name


def test_exposing_the_servers_without_credentials_is_refused_before_anything_starts(
    tmp_path: Path,
) -> None:
    with pytest.raises(ConfigError, match="ELECTROLOOP_USERNAME and ELECTROLOOP_PASSWORD"):
        ServiceConfig(tmp_path, host="0.0.0.0")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ELECTROLOOP_", "PREFECT_"))}
    command = [sys.executable, "-m", "electroloop.cli", "--home", str(tmp_path / "runs")]
    refused = subprocess.run(
        [*command, "up", "--host", "0.0.0.0"], env=env, capture_output=True, text=True, timeout=120
    )
    assert refused.returncode != 0
    assert "host: 0.0.0.0" in refused.stderr and "ELECTROLOOP_PASSWORD" in refused.stderr
    assert not (tmp_path / "runs" / "services.json").exists()


@pytest.mark.parametrize(
    ("username", "password", "field"),
    [
        ("lab admin", PASSWORD, "ELECTROLOOP_USERNAME"),
        ("a:b", PASSWORD, "ELECTROLOOP_USERNAME"),
        (USER, "short", "ELECTROLOOP_PASSWORD"),
        (USER, "twelve chars\n", "ELECTROLOOP_PASSWORD"),
    ],
)
def test_weak_or_malformed_credentials_are_refused(
    username: str, password: str, field: str
) -> None:
    with pytest.raises(ConfigError, match=field):
        Credentials(username, password)
