"""A whole simulated bench on loopback: balance, one pump per stock, conductivity meter.

The composition root opens `balance_resource`, `pump_resources[stock]` and `meter_resource`
with pyvisa-py exactly as it would open networked hardware. Every pump has address 1 (one pump
per stock bottle, each on its own link); its valve port `INPUT_PORT` leads to the bottle and
`OUTPUT_PORT` to the vial on the balance.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Self, TypeVar

from electroloop.instruments.sim.balance import BalanceServer
from electroloop.instruments.sim.bench import ConductivityModel, SimulatedBench
from electroloop.instruments.sim.meter import MeterServer
from electroloop.instruments.sim.pump import PumpServer
from electroloop.instruments.sim.server import LineServer
from electroloop.models import Stock

__all__ = ["SimulatedLab"]

_Server = TypeVar("_Server", bound=LineServer)


class SimulatedLab:
    """Starts every simulator on 127.0.0.1 around one `SimulatedBench`; `close()` stops all."""

    INPUT_PORT = 1
    OUTPUT_PORT = 2

    def __init__(
        self,
        stocks: Sequence[Stock],
        temperature: float,
        conductivity_model: ConductivityModel,
        seed: int,
        *,
        syringe_volume: float = 5.0,
        steps: int = 3000,
        ports: int = 6,
        capacity: float = 220.0,
    ) -> None:
        self.bench = SimulatedBench(stocks, temperature, conductivity_model, seed)
        self._servers: list[LineServer] = []
        try:
            self.balance = self._start(
                BalanceServer(self.bench, serial=f"B{seed:09d}", capacity=capacity)
            )
            self.pumps = {
                stock.name: self._start(
                    PumpServer(
                        self.bench,
                        stock.name,
                        syringe_volume=syringe_volume,
                        steps=steps,
                        ports=ports,
                        bottle_port=self.INPUT_PORT,
                        vial_port=self.OUTPUT_PORT,
                    )
                )
                for stock in stocks
            }
            self.meter = self._start(MeterServer(self.bench, serial=f"CM{seed:06d}"))
        except BaseException:
            self.close()
            raise

    def _start(self, server: _Server) -> _Server:
        self._servers.append(server)
        return server

    @property
    def balance_resource(self) -> str:
        return self.balance.resource_name

    @property
    def pump_resources(self) -> dict[str, str]:
        return {name: server.resource_name for name, server in self.pumps.items()}

    @property
    def meter_resource(self) -> str:
        return self.meter.resource_name

    def close(self) -> None:
        """Stop every simulator (joins their threads, frees their ports). Idempotent."""
        while self._servers:
            self._servers.pop().close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
