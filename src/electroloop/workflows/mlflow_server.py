"""A real `mlflow server` process on loopback: what a lab that shares results runs, and what the
tests compare against (not only the file store).

One worker by default: on two cores four workers took 31 s to start and made HTTP logging about
3x slower than one (../shared/STACK.md, section 4). Artifacts are proxied by the server
(`--artifacts-destination`), so clients never need the server's file system.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

from electroloop.errors import ConfigError


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


class MlflowServer:
    """Starts `mlflow server` with a SQLite (or PostgreSQL) backend; stops it on exit."""

    def __init__(
        self,
        backend_store_uri: str,
        artifacts_destination: Path,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        workers: int = 1,
        log_file: Path | None = None,
        startup_timeout: float = 180.0,
        env: Mapping[str, str] | None = None,
        app_name: str | None = None,
    ) -> None:
        self.backend_store_uri = backend_store_uri
        self.artifacts_destination = artifacts_destination
        self.host = host
        self.port = port or free_port(host)
        self.workers = workers
        self.log_file = log_file or artifacts_destination.parent / "mlflow-server.log"
        self.startup_timeout = startup_timeout
        self.env = dict(env or {})  # extra environment for the server, over ours
        self.app_name = app_name  # e.g. "basic-auth": MLflow's own authentication
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        """The server's process id (also its process group: it runs in its own session)."""
        return None if self._process is None else self._process.pid

    def poll(self) -> int | None:
        """The exit code once the launched server has died, else None."""
        return None if self._process is None else self._process.poll()

    def launch(self) -> MlflowServer:
        """Spawn the server without waiting for it: `electroloop up` starts Prefect meanwhile.

        The process runs in its own session with its output in `log_file`, so it outlives the
        command that launched it. The backend URI goes through the environment, not the command
        line, so a database password never shows up in `ps`.
        """
        self.artifacts_destination.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
            "--artifacts-destination",
            str(self.artifacts_destination.resolve()),
            *(["--app-name", self.app_name] if self.app_name else []),
        ]
        env = (
            os.environ
            | {
                "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
                "MLFLOW_BACKEND_STORE_URI": self.backend_store_uri,
            }
            | self.env
        )
        with self.log_file.open("ab") as log:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # Ctrl-C in a terminal stops us, and we stop it
            )
        return self

    def start(self) -> MlflowServer:
        """Launch the server and wait until `/health` answers; raise ConfigError if it dies."""
        self.launch()
        assert self._process is not None
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise ConfigError(
                    f"mlflow server exited with code {self._process.returncode} while starting; "
                    f"see {self.log_file}"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as reply:
                    if reply.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.5)
        self.stop()
        raise ConfigError(
            f"mlflow server did not answer on {self.url} within {self.startup_timeout:.0f} s; "
            f"see {self.log_file}"
        )

    def stop(self) -> None:
        """SIGTERM the server (and its workers), then SIGKILL if it has not gone in 30 s."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, 15)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait(timeout=10)

    def __enter__(self) -> MlflowServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
