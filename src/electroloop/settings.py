"""Where things live and how the lab is wired: environment variables and an optional lab file.

Settings say *where* to run (folders, tracking URI, instrument addresses); campaign files say
*what* to run. Every path defaults to a project-local folder so a fresh clone needs no set-up.
"""

from __future__ import annotations

import math
import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from electroloop.errors import ConfigError
from electroloop.models import FrozenModel

SIM = "sim"
"""The address of an instrument electroloop simulates (a protocol-true server on loopback)."""


DRIVERS: dict[str, tuple[str, ...]] = {
    "balance": ("mt-sics",),
    "pumps": ("cavro-dt",),
    "meter": ("scpi-conductivity", "orion-a215"),
    "thermal_chamber": ("scpi-chamber",),
    "smu": ("keithley-2450",),
    "cycler": ("electroloop-cycler", "biologic-eclab", "neware-bts"),
    "arm": ("precise-flex",),
}
"""Role -> the drivers electroloop has for it (the lab file names one per instrument)."""


FaultName = Literal["silent", "garbage", "disconnect", "error", "stuck_busy", "drift", "slow"]


class FaultSpec(FrozenModel):
    """A fault a simulated instrument throws: once after `after` commands, or with `probability`
    per command (seeded: a dry run with faults repeats exactly)."""

    fault: FaultName = Field(
        description="silent (no answer: a timeout), garbage bytes, disconnect, the device's own "
        "error code, stuck busy (never finishes), drift (readings drift), or slow (every "
        "answer from then on comes late)."
    )
    after: int | None = Field(None, ge=0, description="Fire after this many commands.")
    probability: float | None = Field(None, gt=0.0, le=1.0, description="Chance per command.")
    times: int | None = Field(
        None,
        ge=1,
        description="Fire at most this often (omit: once for `after`, no cap for `probability`).",
    )

    @model_validator(mode="after")
    def _one_trigger(self) -> FaultSpec:
        if (self.after is None) == (self.probability is None):
            raise ValueError("give exactly one of after (commands) or probability (0 < p <= 1)")
        return self

    @property
    def cap(self) -> int | None:
        """How often the fault fires at most (None: every time its probability says so)."""
        if self.times is not None:
            return self.times
        return 1 if self.after is not None else None


class InstrumentSpec(FrozenModel):
    """One instrument of a lab: which driver speaks to it, where, and within which limits."""

    driver: str = Field(description="Which driver speaks its protocol, e.g. 'mt-sics'.")
    address: str | dict[str, str] = Field(
        SIM,
        description="VISA resource (e.g. 'TCPIP::10.0.0.5::4001::SOCKET') or 'sim' for a "
        "simulator on loopback; pumps: a table stock name -> address, or 'sim'; "
        "neware-bts: 'host:port' of the BTS PC (port 502 if left out).",
    )
    timeout: float = Field(5.0, gt=0.0, le=600.0, description="Seconds to wait for an answer.")
    limits: dict[str, float] = Field(
        default_factory=dict, description="Driver limits, e.g. capacity = 220.0 (g)."
    )
    faults: tuple[FaultSpec, ...] = Field((), description="Faults a simulator throws.")

    @field_validator("address")
    @classmethod
    def _one_line(cls, value: str | dict[str, str]) -> str | dict[str, str]:
        for address in value.values() if isinstance(value, dict) else [value]:
            if not re.fullmatch(r"[!-~]{1,256}", address):
                raise ValueError(
                    f"{address!r}; allowed: a VISA resource name, one line of printable ASCII "
                    "without spaces, e.g. 'TCPIP::10.0.0.5::4001::SOCKET', or 'sim'"
                )
        return value

    @property
    def simulated(self) -> bool:
        return self.address == SIM

    @model_validator(mode="after")
    def _faults_only_when_simulated(self) -> InstrumentSpec:
        if self.faults and not self.simulated:
            raise ValueError("faults can only be injected into a simulator (address = 'sim')")
        return self


ARM_PLACES = ("balance", "meter", "waste")
"""Places every campaign sends vials to; an arm must have them taught (rack slots are checked
when a campaign starts, against how many vials it may use)."""


class ArmSpec(InstrumentSpec):
    """A vial-handling arm (Brooks PreciseFlex): its address and a taught pose per place."""

    positions: dict[str, list[float]] = Field(
        default_factory=dict,
        description="Place (e.g. 'rack-1:A1', 'balance', 'meter', 'waste', 'standards') -> "
        "[x, y, z, yaw, pitch, roll] in mm and degrees, optionally with the elbow "
        "configuration (1 righty, 2 lefty) as a 7th number.",
    )

    @field_validator("positions")
    @classmethod
    def _poses(cls, value: dict[str, list[float]]) -> dict[str, list[float]]:
        for place, pose in value.items():
            if len(pose) not in (6, 7) or not all(math.isfinite(v) for v in pose):
                raise ValueError(
                    f"{place}: {pose}; allowed: 6 or 7 finite numbers "
                    "[x, y, z, yaw, pitch, roll, config]"
                )
            if len(pose) == 7 and pose[6] not in (0, 1, 2):
                raise ValueError(f"{place}: config {pose[6]}; allowed: 0, 1 (righty), 2 (lefty)")
        missing = [place for place in ARM_PLACES if place not in value]
        if missing:
            raise ValueError(f"no taught position for {missing}; required: {list(ARM_PLACES)}")
        return value


class CheckStandardSpec(FrozenModel):
    """How often and how strictly the conductivity meter is checked against its certified KCl
    standard (`kinds.electrolyte.check_standard`)."""

    every: int = Field(
        4, ge=0, le=100, description="Check before every n-th sample's reading (0: never)."
    )
    readings: int = Field(3, ge=1, le=10, description="Readings of the standard per check.")
    tolerance: float = Field(
        0.01, gt=0.0, le=0.1, description="Allowed relative error of their mean."
    )


class LabFile(FrozenModel):
    """A lab: its instruments and the bench they share (`lab.toml`; `lab.sim.toml` simulates all).

    A hybrid lab (some instruments real, some simulated) is one edit: an instrument's address.
    """

    name: str = Field(min_length=1, description="Name of the lab or bench.")
    seed: int = Field(0, ge=0, description="Seed of the simulators' noise and faults.")
    speedup: float = Field(
        1.0, gt=0.0, le=1e6, description="Simulated instrument time runs this much faster."
    )
    cycler_speedup: float = Field(
        10_000.0,
        gt=0.0,
        le=1e6,
        description="The simulated cycler's own clock: a cycle-life test takes hundreds of "
        "hours, so it runs faster than the bench's.",
    )
    stock_molality: float = Field(
        2.5, gt=0.0, le=5.0, description="Salt molality of each salt stock, mol/kg."
    )
    stock_mass: float = Field(500.0, gt=0.0, description="Mass of each stock bottle, g.")
    stock_lots: dict[str, Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=dict,
        description="Stock name (e.g. 'EC', 'LiPF6-EC') -> lot of the bottle on the bench; "
        "recorded with every dose of it.",
    )
    sample_mass: float = Field(
        4.0, ge=0.5, le=20.0, description="Total mass dosed per sample vial, g."
    )
    balance: InstrumentSpec
    pumps: InstrumentSpec
    meter: InstrumentSpec
    check_standard: CheckStandardSpec = Field(
        default_factory=CheckStandardSpec,
        description="The meter's check standard: a drifting meter stops the campaign.",
    )
    thermal_chamber: InstrumentSpec | None = None
    smu: InstrumentSpec | None = None
    cycler: InstrumentSpec | None = None
    arm: ArmSpec | None = Field(
        None, description="A robot arm that moves the vials (none: a technician moves them)."
    )

    def instruments(self) -> dict[str, InstrumentSpec]:
        """Every instrument the lab has, by its role."""
        return {r: spec for r in DRIVERS if (spec := getattr(self, r)) is not None}

    @model_validator(mode="after")
    def _known_drivers(self) -> LabFile:
        for role, spec in self.instruments().items():
            if spec.driver not in DRIVERS[role]:
                allowed = ", ".join(repr(d) for d in DRIVERS[role])
                raise ValueError(f"{role}.driver is {spec.driver!r}; allowed: {allowed}")
            if isinstance(spec.address, dict) and role != "pumps":
                raise ValueError(
                    f"{role}.address: one VISA address or 'sim' (a table is for pumps)"
                )
        arm = self.arm
        if arm is not None and self.check_standard.every and "standards" not in arm.positions:
            raise ValueError(
                "arm.positions has no 'standards': the arm carries the check standard to the "
                "meter; teach it, or set check_standard.every = 0"
            )
        if arm is not None and arm.simulated and not self.balance.simulated:
            raise ValueError(
                "arm.address is 'sim' but balance.address is a real balance: a simulated arm "
                "puts no vial on a real pan; give the arm's TCS address, or simulate both"
            )
        return self

    @property
    def all_simulated(self) -> bool:
        return all(spec.simulated for spec in self.instruments().values())


def default_lab_text() -> str:
    """`lab.sim.toml`: every instrument simulated, shipped inside the package."""
    return resources.files("electroloop").joinpath("lab.sim.toml").read_text("utf-8")


def parse_lab(data: dict[str, Any], source: str) -> LabFile:
    """Validate a lab given as a mapping; ConfigError lists every problem with its field."""
    try:
        return LabFile.model_validate(data)
    except ValidationError as exc:
        problems = "\n".join(
            f"  - {'.'.join(str(p) for p in e['loc']) or '(file)'}: "
            f"{e['msg'].removeprefix('Value error, ')}"
            + (f" (got {e['input']!r})" if e["loc"] and e["type"] != "missing" else "")
            for e in exc.errors(include_url=False)
        )
        raise ConfigError(f"{source}: invalid lab file:\n{problems}") from None


def load_lab(path: str | Path | None = None) -> LabFile:
    """Read and validate a lab file; None gives the embedded all-simulated lab."""
    if path is None:
        return parse_lab(tomllib.loads(default_lab_text()), "lab.sim.toml (embedded)")
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read lab file: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not UTF-8 text (byte {exc.start}); allowed: a TOML file saved as UTF-8"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return parse_lab(data, str(path))


CalculatorName = Literal["chgnet", "emt", "vasp", "espresso", "gpaw"]


class CalculatorConfig(FrozenModel):
    """Which ASE calculator the crystal oracle builds and where it runs: the lab's DFT profile.

    `parameters` go to the ASE calculator's constructor unchanged (e.g. ``{"encut": 520}`` for
    VASP, ``{"input_data": {...}, "pseudopotentials": {...}}`` for Quantum ESPRESSO).
    `command` is the executable line for file-based codes (VASP, Quantum ESPRESSO);
    `pseudo_dir` is Quantum ESPRESSO's pseudopotential folder. Set it with
    ``ELECTROLOOP_CRYSTAL_CALCULATOR='{"name": "vasp", "command": "mpirun -n 8 vasp_std"}'``.
    """

    name: CalculatorName = "chgnet"
    parameters: dict[str, Any] = Field(default_factory=dict)
    command: str | None = None
    pseudo_dir: str | None = None
    directory: str = "."


class Settings(BaseSettings):
    """Process-wide settings, read from `ELECTROLOOP_*` environment variables."""

    # Errors never echo what was given: database URLs carry passwords.
    model_config = SettingsConfigDict(
        env_prefix="ELECTROLOOP_", frozen=True, extra="forbid", hide_input_in_errors=True
    )

    home: Path = Field(Path("runs"), description="Project-local folder for all run data.")
    tracking_uri: str | None = Field(
        None, description="MLflow tracking URI; default sqlite:///<home>/mlflow.db."
    )
    prefect_home: Path | None = Field(None, description="PREFECT_HOME; default <home>/prefect.")
    prefect_database_url: str | None = Field(
        None,
        description="PostgreSQL for `electroloop up`'s Prefect server "
        "(postgresql+asyncpg://…); default SQLite under prefect_home.",
    )
    mlflow_backend_uri: str | None = Field(
        None,
        description="Database of `electroloop up`'s MLflow server (e.g. postgresql://…); "
        "default sqlite:///<home>/mlflow.db.",
    )
    database_url: str | None = Field(
        None,
        description="PostgreSQL holding the event log, leases and cell records of a lab on "
        "several machines (postgresql://user:password@host:5432/db); default SQLite at "
        "<home>/campaigns.sqlite.",
    )
    dask_address: str | None = Field(
        None,
        description="The lab's Dask scheduler (tcp://host:8786): oracle calls, microstructure "
        "solves and surrogate training fan out to its workers; default: this process.",
    )
    username: str | None = Field(
        None, description="User name `electroloop up`'s servers ask for (with the password)."
    )
    password: SecretStr | None = Field(
        None, description="Password of both servers; from the environment only, never a file."
    )
    lease_ttl: float = Field(
        30.0,
        ge=1.0,
        le=3600.0,
        description="Seconds an instrument or campaign lease outlives its holder's last "
        "heartbeat: how long a dead worker blocks them before a resume may take over.",
    )
    lease_poll: float = Field(
        1.0,
        gt=0.0,
        le=60.0,
        description="Seconds between a waiting step's looks at the lease queue: its turn "
        "comes within one (a step holds instruments for minutes; a simulated bench that runs "
        "faster than the wall clock may want less).",
    )
    crystal_calculator: CalculatorConfig = Field(
        default_factory=CalculatorConfig,
        description="ASE calculator of the crystal oracle (CHGNet offline by default).",
    )

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("postgresql://", "postgres://")):
            scheme = url.partition("://")[0] if "://" in url else "no scheme"
            raise ValueError(
                f"a PostgreSQL URL is needed, got {scheme!r}; give "
                "postgresql://user:password@host:5432/db, or leave it unset for SQLite at "
                "<home>/campaigns.sqlite"
            )
        return url

    @field_validator("dask_address")
    @classmethod
    def _scheduler_address(cls, address: str | None) -> str | None:
        if address is not None and not re.fullmatch(
            r"(tcp|tls)://[A-Za-z0-9.:\[\]_-]+:\d+", address
        ):
            raise ValueError(
                f"{address!r} is not a Dask scheduler address; give tcp://host:port (or "
                "tls://host:port), or leave it unset to compute in this process"
            )
        return address

    @property
    def resolved_home(self) -> Path:
        return self.home.expanduser().resolve()

    @property
    def resolved_tracking_uri(self) -> str:
        if self.tracking_uri:
            return self.tracking_uri
        return f"sqlite:///{self.resolved_home / 'mlflow.db'}"

    @property
    def artifact_root(self) -> Path:
        return self.resolved_home / "mlartifacts"

    @property
    def store_path(self) -> Path:
        """The embedded default: an SQLite file of this PC."""
        return self.resolved_home / "campaigns.sqlite"

    @property
    def store(self) -> str | Path:
        """The campaigns database every process of the lab opens: `database_url`, else
        `store_path` (see `orchestrator.database`)."""
        return self.database_url or self.store_path

    @property
    def resolved_prefect_home(self) -> Path:
        return (self.prefect_home or self.resolved_home / "prefect").expanduser().resolve()
