"""What a cycling campaign does to each cell, and the protocols that says to load.

A cell's test is a sequence of phases, each one cycler protocol (docs/cycler_protocol.md):
formation, a rate test (one phase per discharge rate), then cycling to N cycles. Every phase
repeats one cycle template with the cycler's LOOP, so a record's cycle number is the cycle
within its phase and its step number names the step's role:

    charge (CC to V_max) → cv (hold V_max to C/20) → rest 10 min → pulse (10 s at 1C, the DC
    resistance) → discharge (CC to V_min) → rest 10 min

The C/20 CV cut-off and the 10 s pulse follow common practice: the HPPC test of the USABC /
DOE battery test manual (INL/EXT-15-34184, 2015) uses 10 s pulses for the DC resistance.
Safety limits come from the cell chemistry (`CHEMISTRIES`) and are checked against every step
before anything is loaded (`MultichannelCycler.validate`); the cycler's own hardware limits sit
just outside them.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import Field, model_validator

from electroloop.instruments.cycler import ChannelLimits, CyclingProtocol, ProtocolStep
from electroloop.models import FrozenModel

REST = 600.0  # s, relaxation at the top and the bottom of each cycle
PULSE = 10.0  # s, the DC-resistance pulse
CV_CUTOFF_C_RATE = 0.05  # C/20
ROLES = ("charge", "cv", "rest", "pulse", "discharge", "rest")
"""Role of each step of the cycle template, in order (see the module docstring)."""


@dataclass(frozen=True)
class Chemistry:
    """The window a cell chemistry is safe in; `source` says where the numbers come from."""

    min_voltage: float
    max_voltage: float
    max_c_rate: float
    max_temperature: float
    source: str


CHEMISTRIES: dict[str, Chemistry] = {
    "graphite-nmc811": Chemistry(
        min_voltage=2.5,
        max_voltage=4.2,
        max_c_rate=3.0,
        max_temperature=45.0,
        source="voltage window of the LG M50 (graphite-SiOx | NMC811) cell of C.-H. Chen et al., "
        "J. Electrochem. Soc. 167 (2020) 080534 (PyBaMM's Chen2020); 3C and 45 °C are "
        "assumptions typical of graphite|NMC coin-cell rate tests and datasheets' charge range",
    ),
    "graphite-lfp": Chemistry(
        min_voltage=2.0,
        max_voltage=3.65,
        max_c_rate=3.0,
        max_temperature=45.0,
        source="graphite|LiFePO4 window 2.0-3.65 V as in M. Safari & C. Delacourt, "
        "J. Electrochem. Soc. 158 (2011) A562; 3C and 45 °C assumed as for NMC",
    ),
}


class CyclingSpec(FrozenModel):
    """How each cell of a cycling campaign is tested (the `[cycling]` table)."""

    chemistry: str = Field("graphite-nmc811", description="Cell chemistry: its safety window.")
    cell_capacity: float = Field(
        0.005, gt=0.0, le=100.0, description="Nominal capacity, Ah (5 mAh: a coin cell)."
    )
    formation_cycles: int = Field(2, ge=1, le=10, description="Slow first cycles (SEI).")
    formation_c_rate: float = Field(0.1, ge=0.02, le=1.0, description="Formation C-rate.")
    rate_c_rates: tuple[float, ...] = Field(
        (0.2, 0.5, 1.0, 2.0), min_length=2, max_length=8, description="Rate test discharges."
    )
    rate_charge_c_rate: float = Field(0.5, ge=0.02, le=3.0, description="Rate test charge.")
    cycles: int = Field(100, ge=3, le=5000, description="Cycling phase: this many cycles.")
    c_rate: float = Field(1.0, ge=0.02, le=3.0, description="Cycling charge and discharge rate.")
    capacity_floor: float = Field(
        0.8,
        gt=0.0,
        lt=1.0,
        description="End of life: discharge capacity below this fraction "
        "of the first cycling cycle's ends the test.",
    )
    checkpoints: tuple[int, ...] = Field(
        (10, 25, 50), description="Cycling cycles at which the planner hears interim results."
    )
    stop_early: bool = Field(
        True,
        description="Stop a cell whose predicted retention is clearly below the "
        "capacity floor or clearly worse than the best cell so far (frees its channel).",
    )
    record_interval: float = Field(
        120.0, ge=1.0, le=3600.0, description="Seconds between the cycler's records."
    )
    poll_interval: float = Field(
        600.0, ge=1.0, le=3600.0, description="Instrument seconds between polls of each cell."
    )

    @model_validator(mode="after")
    def _consistent(self) -> CyclingSpec:
        if self.chemistry not in CHEMISTRIES:
            raise ValueError(f"chemistry {self.chemistry!r}; allowed: {sorted(CHEMISTRIES)}")
        top = CHEMISTRIES[self.chemistry].max_c_rate
        rates = {
            "formation_c_rate": (self.formation_c_rate,),
            "rate_c_rates": self.rate_c_rates,
            "rate_charge_c_rate": (self.rate_charge_c_rate,),
            "c_rate": (self.c_rate,),
        }
        for name, values in rates.items():
            for value in values:
                if not 0.02 <= value <= top:
                    raise ValueError(f"{name} {value}; allowed: 0.02..{top} C for {self.chemistry}")
        if list(self.checkpoints) != sorted(set(self.checkpoints)) or any(
            not 3 <= c < self.cycles for c in self.checkpoints
        ):
            raise ValueError(
                f"checkpoints {list(self.checkpoints)}; allowed: increasing cycle numbers in "
                f"3..{self.cycles - 1} (the last cycle is always reported)"
            )
        return self

    @property
    def window(self) -> Chemistry:
        return CHEMISTRIES[self.chemistry]

    def limits(self, cycler_max_current: float | None = None) -> ChannelLimits:
        """The channel limits of this chemistry and cell (current capped by the cycler's)."""
        chem = self.window
        current = chem.max_c_rate * self.cell_capacity
        if cycler_max_current is not None:
            current = min(current, cycler_max_current)
        return ChannelLimits(
            min_voltage=chem.min_voltage,
            max_voltage=chem.max_voltage,
            max_current=current,
            max_temperature=chem.max_temperature,
        )

    def phases(self) -> list[Phase]:
        """The cell's phases in order."""
        phases = [
            self._phase(
                "formation", self.formation_c_rate, self.formation_c_rate, self.formation_cycles
            )
        ]
        for rate in self.rate_c_rates:
            phases.append(self._phase(f"rate-{rate:g}C", self.rate_charge_c_rate, rate, 1))
        phases.append(self._phase("cycling", self.c_rate, self.c_rate, self.cycles))
        return phases

    def _phase(self, name: str, charge: float, discharge: float, cycles: int) -> Phase:
        chem, q = self.window, self.cell_capacity
        guard = 1.5 * 3600.0  # a CC step may last 1.5x its nominal time, then it is cut
        steps = (
            ProtocolStep.cc(charge * q, chem.max_voltage, guard / charge),
            ProtocolStep.cv(chem.max_voltage, CV_CUTOFF_C_RATE * q, guard),
            ProtocolStep.rest(REST),
            ProtocolStep.cc(-min(1.0, chem.max_c_rate) * q, chem.min_voltage, PULSE),
            ProtocolStep.cc(-discharge * q, chem.min_voltage, guard / discharge),
            ProtocolStep.rest(REST),
        )
        protocol = CyclingProtocol(steps, cycles=cycles, record_interval=self.record_interval)
        return Phase(name=name, protocol=protocol, roles=ROLES, discharge_c_rate=discharge)


@dataclass(frozen=True)
class Phase:
    """One protocol of a cell's test: its name, the steps to load and each step's role."""

    name: str
    protocol: CyclingProtocol
    roles: tuple[str, ...]
    discharge_c_rate: float
