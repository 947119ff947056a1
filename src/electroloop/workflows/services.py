"""The lab's long-running servers: `electroloop up` starts a Prefect server and an MLflow tracking
server on 127.0.0.1, `electroloop down` stops them.

Both keep their data in the electroloop home and outlive the command that started them (own
session, output in `<home>/logs/`). What runs is recorded in `<home>/services.json`, so `down`
and later commands (through `running`) find the servers from another process. The file never
holds a password: database URLs are written redacted.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qsl, urlsplit

from pydantic import Field, ValidationError

from electroloop.errors import ConfigError, ElectroloopError
from electroloop.files import write_atomically
from electroloop.models import FrozenModel
from electroloop.orchestrator.database import SECRET_KEYS, redact
from electroloop.settings import Settings
from electroloop.workflows.mlflow_server import MlflowServer, free_port
from electroloop.workflows.processes import (
    command_line,
    locked,
    log_offset,
    reap,
    terminate,
)

HOST = "127.0.0.1"
"""Where the servers listen unless `electroloop up --host` says otherwise: loopback only."""
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
MIN_PASSWORD = 12
"""Characters a password must have at least (NIST SP 800-63B §5.1.1 asks 8 of a memorised
secret; a lab's shared server password earns more)."""
STATE_FILE = "services.json"
MAX_PORT = 65535
STOP_TIMEOUT = 20.0
"""Seconds `down` waits after SIGTERM before it sends SIGKILL."""

MLFLOW_ENVIRONMENT = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
"""MLflow's job runner (GenAI scorers, trace roll-ups; electroloop uses neither) adds seven huey
processes: about 1.48 GB resident for the server against 0.76 GB without (measured, 2 cores)."""

LOG_TAIL_LINES = 20


def _secrets(*urls: str | None) -> list[str]:
    """Passwords in the given URLs: scrubbed from any log text we show."""
    found = []
    for url in urls:
        if url:
            parts = urlsplit(url)
            if parts.password:
                found.append(parts.password)
            found += [v for k, v in parse_qsl(parts.query) if k.lower() in SECRET_KEYS and v]
    return found


def _check_port(name: str, port: object) -> None:
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= MAX_PORT:
        raise ConfigError(
            f"{name}: {port!r} is not a TCP port; allowed: an integer 0..{MAX_PORT} "
            "(0 picks a free port)"
        )


@dataclass(frozen=True)
class Credentials:
    """The lab's user name and password for both servers (from ELECTROLOOP_USERNAME and
    ELECTROLOOP_PASSWORD; never written to a file or a command line)."""

    username: str
    password: str = field(repr=False)

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_.@-]{1,64}", self.username):
            raise ConfigError(
                f"ELECTROLOOP_USERNAME: {self.username!r}; allowed: 1-64 letters, digits or _.@-"
            )
        if len(self.password) < MIN_PASSWORD or not self.password.isprintable():
            raise ConfigError(
                f"ELECTROLOOP_PASSWORD: allowed: at least {MIN_PASSWORD} printable characters"
            )

    def environment(self) -> dict[str, str]:
        """What clients (flows, `run`, `serve`, MLflow clients) need to be let in."""
        return {
            "PREFECT_API_AUTH_STRING": f"{self.username}:{self.password}",
            "MLFLOW_TRACKING_USERNAME": self.username,
            "MLFLOW_TRACKING_PASSWORD": self.password,
        }


def credentials(settings: Settings) -> Credentials | None:
    """The servers' credentials the environment gives (None: no authentication)."""
    if settings.username is None and settings.password is None:
        return None
    if settings.username is None or settings.password is None:
        raise ConfigError("set both ELECTROLOOP_USERNAME and ELECTROLOOP_PASSWORD, or neither")
    return Credentials(settings.username, settings.password.get_secret_value())


def is_loopback(host: str) -> bool:
    """Whether `host` is reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ServiceConfig:
    """Where the servers listen and keep their data. Port 0 picks a free port.

    `prefect_database_url` None keeps Prefect's SQLite database under `prefect_home`
    (default `<home>/prefect`); `mlflow_backend_uri` None uses `sqlite:///<home>/mlflow.db`.
    """

    home: Path
    prefect_port: int = 4200
    mlflow_port: int = 5000
    prefect_database_url: str | None = None
    mlflow_backend_uri: str | None = None
    prefect_home: Path | None = None
    startup_timeout: float = 180.0
    host: str = HOST
    """Where both servers listen; anything but loopback needs `credentials`."""
    allowed_hosts: tuple[str, ...] = ()
    """Host names (besides loopback and `host`) the servers answer to, e.g. the PC's DNS name."""
    credentials: Credentials | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "home", Path(self.home).expanduser().resolve())
        if self.prefect_home is not None:
            object.__setattr__(self, "prefect_home", Path(self.prefect_home).expanduser().resolve())
        _check_port("prefect_port", self.prefect_port)
        _check_port("mlflow_port", self.mlflow_port)
        if self.prefect_port and self.prefect_port == self.mlflow_port:
            raise ConfigError(
                f"prefect_port and mlflow_port are both {self.prefect_port}; "
                "give them different ports (or 0 to pick free ones)"
            )
        url = self.prefect_database_url
        if url is not None and not url.startswith("postgresql+asyncpg://"):
            raise ConfigError(
                f"prefect_database_url: {redact(url)!r} is not allowed; give "
                "postgresql+asyncpg://user:password@host:5432/db, or none for SQLite under "
                f"{self.resolved_prefect_home}"
            )
        uri = self.mlflow_backend_uri
        if uri is not None:
            scheme = urlsplit(uri).scheme.partition("+")[0]
            if "://" not in uri or scheme not in {"sqlite", "postgresql", "mysql", "mssql"}:
                raise ConfigError(
                    f"mlflow_backend_uri: {redact(uri)!r} is not allowed; give a database URI "
                    "(sqlite:///path/mlflow.db, postgresql://user:password@host:5432/db, "
                    "mysql://…, mssql://…), or none for sqlite:///<home>/mlflow.db"
                )
        for name in (self.host, *self.allowed_hosts):
            if not re.fullmatch(r"[A-Za-z0-9.:_-]{1,253}", name):
                raise ConfigError(f"host: {name!r}; allowed: an IP address or a host name")
        if not is_loopback(self.host) and self.credentials is None:
            raise ConfigError(
                f"host: {self.host} would let other machines reach Prefect and MLflow, which "
                "start campaigns that move pumps; set ELECTROLOOP_USERNAME and "
                f"ELECTROLOOP_PASSWORD (at least {MIN_PASSWORD} characters) so both servers ask "
                f"for them, or keep the default {HOST}"
            )
        timeout = self.startup_timeout
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
            raise ConfigError(f"startup_timeout: {timeout!r}; allowed: seconds > 0")

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: object) -> ServiceConfig:
        """The servers for the project home (and PREFECT_HOME) the CLI's settings name."""
        base: dict[str, object] = {
            "home": settings.resolved_home,
            "prefect_home": settings.resolved_prefect_home,
            "credentials": credentials(settings),
        }
        return cls(**(base | overrides))  # type: ignore[arg-type]

    @property
    def client_host(self) -> str:
        """The address clients on this machine use (loopback when listening everywhere)."""
        return HOST if self.host in ("0.0.0.0", "::") else self.host

    @property
    def host_names(self) -> list[str]:
        """Every Host header the servers answer to."""
        names = [*LOOPBACK_NAMES, self.client_host, *self.allowed_hosts]
        return list(dict.fromkeys(names))

    @property
    def resolved_prefect_home(self) -> Path:
        return self.prefect_home or self.home / "prefect"

    @property
    def artifact_root(self) -> Path:
        """The same folder as `Settings.artifact_root`: runs logged either way sit together."""
        return self.home / "mlartifacts"

    @property
    def resolved_mlflow_backend(self) -> str:
        return self.mlflow_backend_uri or f"sqlite:///{self.home / 'mlflow.db'}"

    @property
    def prefect_backend(self) -> str:
        if self.prefect_database_url:
            return self.prefect_database_url
        return f"sqlite+aiosqlite:///{self.resolved_prefect_home / 'prefect.db'}"

    @property
    def logs(self) -> Path:
        return self.home / "logs"


class ServiceRecord(FrozenModel):
    """One running server as `services.json` records it (no secrets)."""

    name: Literal["prefect", "mlflow"]
    pid: int = Field(gt=0)
    port: int = Field(gt=0, le=MAX_PORT)
    url: str = Field(description="What a person opens: the UI.")
    api_url: str = Field(description="What a client points at.")
    log: Path
    started_at: datetime
    backend: str = Field(description="Database, password redacted.")
    data: Path = Field(description="Folder of its files: PREFECT_HOME or the MLflow artifacts.")

    @property
    def title(self) -> str:
        return {"prefect": "Prefect server", "mlflow": "MLflow server"}[self.name]

    @property
    def health_url(self) -> str:
        return f"{self.api_url}/health" if self.name == "prefect" else f"{self.url}/health"


class Services(FrozenModel):
    """Both servers of one electroloop home; `reused`/`notes` say what `up` did (not stored)."""

    home: Path
    prefect: ServiceRecord
    mlflow: ServiceRecord
    reused: bool = Field(default=False, exclude=True)
    notes: tuple[str, ...] = Field(default=(), exclude=True)

    @property
    def records(self) -> tuple[ServiceRecord, ServiceRecord]:
        return (self.prefect, self.mlflow)


# --- processes ------------------------------------------------------------------------------


def _ours(record: ServiceRecord) -> bool:
    """Whether the recorded pid is still the server we started: the OS reuses pids, and we must
    never signal somebody else's process."""
    reap(record.pid)
    args = command_line(record.pid)
    if args is None:
        return False
    return any(record.name in arg for arg in args) and str(record.port) in args


def _healthy(record: ServiceRecord, timeout: float = 2.0) -> bool:
    """Prefect's `/api/health` answers `true`; MLflow's `/health` answers 200."""
    try:
        with urllib.request.urlopen(record.health_url, timeout=timeout) as reply:
            body = reply.read()
            if record.name == "prefect":
                return reply.status == 200 and json.loads(body) is True
            return bool(reply.status == 200)
    except (OSError, ValueError, http.client.HTTPException):  # URLError is an OSError
        return False


def _port_free(port: int, host: str = HOST) -> bool:
    """Whether a server could listen on host:port (SO_REUSEADDR, as uvicorn binds: ports in
    TIME_WAIT after `down` count as free)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


# --- state file ---------------------------------------------------------------------------


def state_path(home: Path) -> Path:
    return Path(home).expanduser().resolve() / STATE_FILE


def _read_state(home: Path) -> Services | None:
    path = state_path(home)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        return Services.model_validate_json(text)
    except ValidationError as exc:
        raise ConfigError(
            f"{path}: not a services file electroloop wrote ({exc.error_count()} problems); "
            "stop any Prefect/MLflow server it started by hand, then delete the file"
        ) from None


def _write_state(services: Services) -> Path:
    """Write atomically: a reader never sees half a file."""
    path = state_path(services.home)
    write_atomically(path, json.dumps(services.model_dump(mode="json"), indent=2) + "\n")
    return path


# --- public API ---------------------------------------------------------------------------


def running(home: Path) -> Services | None:
    """The recorded servers if both are alive and healthy, else None (never raises on a bad
    state file: a later command then just runs without them)."""
    try:
        services = _read_state(home)
    except ConfigError:
        return None
    if services is None:
        return None
    if all(_ours(r) for r in services.records) and all(_healthy(r) for r in services.records):
        return services
    return None


def client_environment(services: Services) -> dict[str, str]:
    """Environment that points later commands (`run`, `serve`) at the running servers."""
    return {
        "PREFECT_API_URL": services.prefect.api_url,
        "ELECTROLOOP_TRACKING_URI": services.mlflow.url,
    }


def up(config: ServiceConfig) -> Services:
    """Start Prefect and MLflow (both at once), wait until healthy, record them; idempotent."""
    with locked(config.home):
        notes: list[str] = []
        previous = _read_state(config.home)
        if previous is not None:
            alive = [r for r in previous.records if _ours(r)]
            if len(alive) == 2 and all(_healthy(r) for r in alive):
                return previous.model_copy(
                    update={"reused": True, "notes": _reuse_notes(previous, config)}
                )
            terminate([r.pid for r in alive], STOP_TIMEOUT)
            state_path(config.home).unlink(missing_ok=True)
            gone = ", ".join(f"{r.name} pid {r.pid}" for r in previous.records if r not in alive)
            notes.append(
                f"cleaned a stale {STATE_FILE}"
                + (f" ({gone} no longer running)" if gone else "")
                + (f"; stopped {', '.join(r.title for r in alive)} (not healthy)" if alive else "")
            )
        prefect_port, mlflow_port = _choose_ports(config)
        services = _start(config, prefect_port, mlflow_port)
        _write_state(services)
        return services.model_copy(update={"notes": tuple(notes)})


def _reuse_notes(services: Services, config: ServiceConfig) -> tuple[str, ...]:
    since = services.prefect.started_at.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
    notes = [f"already running since {since}; nothing started"]
    asked = {"prefect": config.prefect_port, "mlflow": config.mlflow_port}
    for record in services.records:
        if asked[record.name] and asked[record.name] != record.port:
            notes.append(
                f"{record.title} runs on port {record.port}, not {asked[record.name]}: "
                "run electroloop down first to change ports or databases"
            )
    return tuple(notes)


def down(home: Path, timeout: float = STOP_TIMEOUT) -> list[str]:
    """Stop the recorded servers (SIGTERM, SIGKILL after `timeout` s) and forget them."""
    home = Path(home).expanduser().resolve()
    path = state_path(home)
    if not path.exists():
        return [f"nothing to stop: no servers recorded in {path}"]
    with locked(home):
        services = _read_state(home)
        if services is None:
            return [f"nothing to stop: no servers recorded in {path}"]
        ours = [r for r in services.records if _ours(r)]
        killed = terminate([r.pid for r in ours], timeout)
        lines = []
        for record in services.records:
            if record not in ours:
                lines.append(f"{record.title} (pid {record.pid}) was not running")
            elif record.pid in killed:
                lines.append(
                    f"killed {record.title} (pid {record.pid}, {record.url}): "
                    f"it ignored SIGTERM for {timeout:.0f} s"
                )
            else:
                lines.append(f"stopped {record.title} (pid {record.pid}, {record.url})")
        path.unlink(missing_ok=True)
        return lines


def format_services(services: Services) -> str:
    """What a technician needs: where to click, where the data and logs are, how to stop."""
    lines = list(services.notes)
    p, m = services.prefect, services.mlflow
    lines += [
        f"{p.title}  {p.url}  (API {p.api_url}, pid {p.pid})",
        f"  data:  {p.data}  (database {p.backend})",
        f"  log:   {p.log}",
        f"{m.title}   {m.url}  (pid {m.pid})",
        f"  data:  {m.backend}, artifacts in {m.data}",
        f"  log:   {m.log}",
        "stop with: electroloop down",
    ]
    return "\n".join(lines)


# --- starting -----------------------------------------------------------------------------


def _choose_ports(config: ServiceConfig) -> tuple[int, int]:
    """Both ports, free ones for 0; fail before anything starts if a requested one is taken."""
    for name, port in (("prefect", config.prefect_port), ("mlflow", config.mlflow_port)):
        if port and not _port_free(port, config.host):
            raise ConfigError(
                f"{name}_port: port {port} on {config.host} is already in use by another program; "
                f"choose another with --{name}-port PORT, or --{name}-port 0 to pick a free one"
            )
    prefect_port = config.prefect_port or free_port(config.host)
    mlflow_port = config.mlflow_port
    while not mlflow_port or mlflow_port == prefect_port:
        mlflow_port = free_port(config.host)
    return prefect_port, mlflow_port


def _prefect_command(config: ServiceConfig, port: int) -> list[str]:
    """Prefect's server app behind a Host-header check (`workflows.prefect_server`)."""
    allowed = [arg for name in config.host_names for arg in ("--allowed-host", name)]
    return [
        sys.executable,
        "-m",
        "electroloop.workflows.prefect_server",
        "--host",
        config.host,
        "--port",
        str(port),
        *allowed,
    ]


def _prefect_environment(config: ServiceConfig, port: int) -> dict[str, str]:
    """The server's whole Prefect configuration. Inherited PREFECT_* variables are dropped:
    a test harness's PREFECT_API_URL, or a database URL, would otherwise put the server (or
    its data) somewhere other than what services.json says."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    origins = ",".join(f"http://{name}:{port}" for name in config.host_names if ":" not in name)
    env |= {
        "PREFECT_HOME": str(config.resolved_prefect_home),
        "PREFECT_API_URL": f"http://{config.client_host}:{port}/api",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "true",
        # Only the server's own UI may call its API from a browser: a web page open on the lab
        # PC must not start campaigns that move pumps (Prefect's default allows every origin).
        "PREFECT_SERVER_API_CORS_ALLOWED_ORIGINS": origins,
    }
    if not is_loopback(config.host):  # a browser elsewhere must call this server, not its own
        env["PREFECT_UI_API_URL"] = "/api"
    if config.credentials is not None:
        creds = config.credentials
        env["PREFECT_SERVER_API_AUTH_STRING"] = f"{creds.username}:{creds.password}"
    if config.prefect_database_url:
        env["PREFECT_API_DATABASE_CONNECTION_URL"] = config.prefect_database_url
    return env


def _mlflow_environment(config: ServiceConfig) -> dict[str, str]:
    """The MLflow server's Host-header list, and its basic-auth set-up when credentials are
    given (`mlflow server --app-name basic-auth`: the admin user is made from the environment
    on the first start; its users live in `<home>/mlflow-auth.db`)."""
    names = [p for name in config.host_names for p in (name, f"{name}:*") if ":" not in name]
    env = MLFLOW_ENVIRONMENT | {"MLFLOW_SERVER_ALLOWED_HOSTS": ",".join(names)}
    if config.credentials is not None:
        ini = config.home / "mlflow-auth.ini"
        write_atomically(
            ini,
            "[mlflow]\ndefault_permission = READ\n"
            f"database_uri = sqlite:///{config.home / 'mlflow-auth.db'}\n"
            f"admin_username = {config.credentials.username}\n"
            "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n",
        )
        env |= {
            "MLFLOW_AUTH_CONFIG_PATH": str(ini),
            "MLFLOW_AUTH_ADMIN_USERNAME": config.credentials.username,
            "MLFLOW_AUTH_ADMIN_PASSWORD": config.credentials.password,
            # signs the UI's CSRF tokens; a new one each start logs browsers out, nothing more
            "MLFLOW_FLASK_SERVER_SECRET_KEY": secrets.token_urlsafe(32),
        }
    return env


def _start(config: ServiceConfig, prefect_port: int, mlflow_port: int) -> Services:
    config.logs.mkdir(parents=True, exist_ok=True)
    config.resolved_prefect_home.mkdir(parents=True, exist_ok=True)
    prefect_log = config.logs / "prefect-server.log"
    mlflow_log = config.logs / "mlflow-server.log"
    offsets = {"prefect": log_offset(prefect_log), "mlflow": log_offset(mlflow_log)}
    now = datetime.now(UTC)
    started: list[int] = []
    try:
        with prefect_log.open("ab") as log:
            prefect = subprocess.Popen(
                _prefect_command(config, prefect_port),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=_prefect_environment(config, prefect_port),
                cwd=config.home,
                start_new_session=True,  # outlives `electroloop up`; down stops its group
            )
        started.append(prefect.pid)
        mlflow = MlflowServer(
            config.resolved_mlflow_backend,
            config.artifact_root,
            host=config.host,
            port=mlflow_port,
            log_file=mlflow_log,
            env=_mlflow_environment(config),
            app_name=None if config.credentials is None else "basic-auth",
        ).launch()
        assert mlflow.pid is not None
        started.append(mlflow.pid)
        prefect_url = f"http://{config.client_host}:{prefect_port}"
        mlflow_url = f"http://{config.client_host}:{mlflow_port}"
        services = Services(
            home=config.home,
            prefect=ServiceRecord(
                name="prefect",
                pid=prefect.pid,
                port=prefect_port,
                url=prefect_url,
                api_url=f"{prefect_url}/api",
                log=prefect_log,
                started_at=now,
                backend=redact(config.prefect_backend),
                data=config.resolved_prefect_home,
            ),
            mlflow=ServiceRecord(
                name="mlflow",
                pid=mlflow.pid,
                port=mlflow_port,
                url=mlflow_url,
                api_url=mlflow_url,
                log=mlflow_log,
                started_at=now,
                backend=redact(config.resolved_mlflow_backend),
                data=config.artifact_root,
            ),
        )
        _wait_healthy(
            config,
            [(services.prefect, prefect.poll), (services.mlflow, mlflow.poll)],
            offsets,
        )
    except BaseException:
        terminate(started, STOP_TIMEOUT)  # also on Ctrl-C: leave nothing half-started
        raise
    return services


def _wait_healthy(
    config: ServiceConfig,
    launched: list[tuple[ServiceRecord, Callable[[], int | None]]],
    offsets: dict[str, int],
) -> None:
    """Poll both servers until healthy; raise naming the first that died or timed out."""
    pending = dict((r.name, (r, poll)) for r, poll in launched)
    deadline = time.monotonic() + config.startup_timeout
    while pending:
        for name, (record, poll) in list(pending.items()):
            code = poll()
            if code is not None:
                raise _failure(config, record, f"exited with code {code}", offsets[name])
            if _healthy(record, timeout=1.0):
                del pending[name]
        if pending and time.monotonic() > deadline:
            record = next(iter(pending.values()))[0]
            raise _failure(
                config,
                record,
                f"did not answer {record.health_url} within {config.startup_timeout:.0f} s",
                offsets[record.name],
            )
        if pending:
            time.sleep(0.5)


def _failure(config: ServiceConfig, record: ServiceRecord, why: str, offset: int) -> Exception:
    try:
        with record.log.open("rb") as log:
            log.seek(offset)
            text = log.read().decode(errors="replace")
    except OSError:
        text = ""
    for secret in _secrets(config.prefect_database_url, config.mlflow_backend_uri):
        text = text.replace(secret, "***")
    tail = "\n".join("    " + line for line in text.splitlines()[-LOG_TAIL_LINES:])
    return ElectroloopError(
        f"{record.title} on port {record.port} {why}; nothing was left running. "
        f"Log {record.log}, last lines:\n{tail or '    (empty)'}"
    )
