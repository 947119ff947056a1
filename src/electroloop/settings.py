"""Where things live and how the lab is wired: environment variables and an optional lab file.

Settings say *where* to run (folders, tracking URI, instrument addresses); campaign files say
*what* to run. Every path defaults to a project-local folder so a fresh clone needs no set-up.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from electroloop.models import FrozenModel


class SimulatedLabSpec(FrozenModel):
    """Protocol-true simulators on loopback, backed by the physics in `simulations`."""

    kind: Literal["simulated"] = "simulated"
    seed: int = Field(0, ge=0, description="Seed of the simulated bench's noise.")
    stock_molality: float = Field(
        2.5, gt=0.0, le=5.0, description="Salt molality of each salt stock, mol/kg."
    )
    stock_mass: float = Field(500.0, gt=0.0, description="Mass of each stock bottle, g.")
    sample_mass: float = Field(
        4.0, ge=0.5, le=20.0, description="Total mass dosed per sample vial, g."
    )


class VisaLabSpec(FrozenModel):
    """Real instruments, reached by VISA resource names (e.g. `TCPIP::10.0.0.5::4001::SOCKET`)."""

    kind: Literal["visa"] = "visa"
    balance: str = Field(description="VISA resource of the MT-SICS balance.")
    pumps: dict[str, str] = Field(description="Stock name -> VISA resource of its pump.")
    meter: str = Field(description="VISA resource of the SCPI conductivity meter.")
    stock_molality: float = Field(2.5, gt=0.0, le=5.0)
    stock_mass: float = Field(500.0, gt=0.0)
    sample_mass: float = Field(4.0, ge=0.5, le=20.0)


LabSpec = Annotated[SimulatedLabSpec | VisaLabSpec, Field(discriminator="kind")]


class Settings(BaseSettings):
    """Process-wide settings, read from `ELECTROLOOP_*` environment variables."""

    model_config = SettingsConfigDict(env_prefix="ELECTROLOOP_", frozen=True, extra="forbid")

    home: Path = Field(Path("runs"), description="Project-local folder for all run data.")
    tracking_uri: str | None = Field(
        None, description="MLflow tracking URI; default sqlite:///<home>/mlflow.db."
    )
    prefect_home: Path | None = Field(None, description="PREFECT_HOME; default <home>/prefect.")
    instrument_timeout: float = Field(5.0, gt=0.0, le=600.0, description="Seconds per query.")

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
        return self.resolved_home / "campaigns.sqlite"

    @property
    def resolved_prefect_home(self) -> Path:
        return (self.prefect_home or self.resolved_home / "prefect").expanduser().resolve()
