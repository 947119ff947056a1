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

Every phase is also an aurora-unicycler protocol (`unicycler_phases`), the one description
each cycler's format and the cell twin's PyBaMM experiment are exported from
(`instruments.protocol_export`). A campaign may replace the cycling phase's template with its
own aurora-unicycler steps (`cycle`); a step the lab's cycler or the twin cannot run refuses
the campaign before anything moves (`check_protocols`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aurora_unicycler import (
    ConstantCurrent,
    ConstantVoltage,
    Loop,
    OpenCircuitVoltage,
    RecordParams,
    SampleParams,
    Tag,
)
from pydantic import Field, ValidationError, model_validator

from electroloop.errors import LimitViolation
from electroloop.instruments.cycler import (
    ChannelLimits,
    CyclingProtocol,
    ProtocolStep,
    check_limits,
)
from electroloop.instruments.protocol_export import (
    UnicyclerProtocol,
    UnsupportedStep,
    check_exports,
    pybamm_experiment,
    scpi_protocol,
    to_unicycler,
)
from electroloop.models import FrozenModel
from electroloop.simulations.cell_twin import Protocol as TwinProtocol

REST = 600.0  # s, relaxation at the top and the bottom of each cycle
PULSE = 10.0  # s, the DC-resistance pulse
CV_CUTOFF_C_RATE = 0.05  # C/20
ROLES = ("charge", "cv", "rest", "pulse", "discharge", "rest")
"""Role of each step of the cycle template, in order (see the module docstring)."""
PULSE_MAX = 60.0
"""s: a discharge this short, ended by time, is a resistance pulse, not the cycle's discharge."""


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
    cycle: tuple[dict[str, Any], ...] | None = Field(
        None,
        min_length=2,
        max_length=60,
        description="The cycling phase's cycle as aurora-unicycler steps (e.g. "
        "{step = 'constant_current', rate_C = 1, until_voltage_V = 4.2}; C-rates refer to "
        "cell_capacity), in place of charge, CV, rest, pulse, discharge, rest.",
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
        if self.cycle is not None:
            self._custom_cycle()
        return self

    def _custom_cycle(self) -> UnicyclerProtocol:
        """The `cycle` steps looped `cycles` times, checked to run on the SCPI form every
        driver loads and on the cell twin; ValueError names the step."""
        assert self.cycle is not None
        for number, step in enumerate(self.cycle):
            if step.get("step") in ("tag", "loop"):
                raise ValueError(
                    f"cycle[{number}]: a {step.get('step')!r} step; the cycle loops itself "
                    "(`cycles` times), so give only its steps"
                )
        method: list[Any] = [Tag(tag="cycle"), *self.cycle]
        method.append(Loop(loop_to="cycle", cycle_count=self.cycles))
        try:
            protocol = UnicyclerProtocol(
                sample=SampleParams(name="cell", capacity_mAh=self.cell_capacity * 1000.0),
                record=RecordParams(time_s=self.record_interval),
                method=method,
            )
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            where = [str(p) for p in first["loc"]]
            step = int(where[1]) if len(where) > 1 and where[1].isdigit() else None
            name = f"cycle[{step - 1}]" if step else "cycle"  # the tag is method[0]
            raise ValueError(f"{name}: {first['msg'].removeprefix('Value error, ')}") from None
        try:
            check_exports(protocol, ["scpi", "pybamm"], limits=self.limits())
        except UnsupportedStep as exc:  # name the step as the campaign file counts it
            text = re.sub(r"step (\d+)", lambda m: f"cycle[{int(m[1]) - 2}]", str(exc))
            raise ValueError(text) from None
        roles = _roles(protocol.method[1:-1])
        if "discharge" not in roles or not {"charge", "cv"} & set(roles):
            raise ValueError(
                "cycle: needs a charge (constant_current with a positive current) and a "
                "discharge (constant_current with a negative current, longer than a pulse)"
            )
        return protocol

    def unicycler_phases(self, sample: str = "cell") -> dict[str, UnicyclerProtocol]:
        """Phase name -> its aurora-unicycler protocol (the description every export uses)."""
        found = {}
        for phase in self.phases():
            if phase.name == "cycling" and self.cycle is not None:
                custom = self._custom_cycle()
                found[phase.name] = custom.model_copy(
                    update={
                        "sample": SampleParams(name=sample, capacity_mAh=custom.sample.capacity_mAh)
                    }
                )
            else:
                found[phase.name] = to_unicycler(
                    phase.protocol,
                    limits=self.limits(),
                    capacity_ah=self.cell_capacity,
                    sample=sample,
                )
        return found

    def check_protocols(
        self, targets: Sequence[str], cycler_max_current: float | None = None
    ) -> None:
        """Before anything moves: every phase stays inside the chemistry's window
        (`LimitViolation`) and exports to each target, a cycler's format or the twin's
        "pybamm" (`UnsupportedStep`); both name the phase and the step."""
        limits = self.limits(cycler_max_current)
        for phase in self.phases():
            try:
                check_limits(phase.protocol, limits)
            except LimitViolation as exc:
                where = self._step_name(phase.name, exc)
                raise LimitViolation(f"phase {phase.name!r}, {where}") from None
        for name, protocol in self.unicycler_phases().items():
            try:
                check_exports(protocol, targets, limits=limits)
            except UnsupportedStep as exc:
                why = str(exc).split(": ", 1)[1]
                tagged = bool(protocol.method) and isinstance(protocol.method[0], Tag)
                step = self._step_name(name, exc.step, tagged=tagged)
                raise UnsupportedStep(exc.target, f"phase {name!r}, {step}", why) from None

    def _step_name(self, phase: str, text: object, *, tagged: bool = False) -> str:
        """`text` with its "step n" counted as the campaign file does: `cycle[i]` in a
        campaign's own cycle, else the phase's n-th step (the loop's opening tag not counted)."""
        shift = 1 if tagged else 0

        def name(match: re.Match[str]) -> str:
            number = int(match[1]) - shift
            if phase == "cycling" and self.cycle is not None:
                return f"cycle[{number - 1}]"
            return f"step {number}"

        return re.sub(r"step (\d+)", name, str(text))

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
        if self.cycle is None:
            phases.append(self._phase("cycling", self.c_rate, self.c_rate, self.cycles))
        else:
            protocol = scpi_protocol(self._custom_cycle(), limits=self.limits())
            roles = _roles(self._custom_cycle().method[1:-1])
            phases.append(
                Phase(
                    "cycling", protocol, roles, _discharge_rate(protocol, roles, self.cell_capacity)
                )
            )
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


def _roles(steps: Sequence[Any]) -> tuple[str, ...]:
    """What each step of a cycle template does (`summary.Role`), read from its kind."""
    roles = []
    for step in steps:
        if isinstance(step, ConstantCurrent):
            positive = (step.rate_C or step.current_mA or 0.0) > 0
            short = step.until_time_s is not None and step.until_time_s <= PULSE_MAX
            roles.append("charge" if positive else "pulse" if short else "discharge")
        elif isinstance(step, ConstantVoltage):
            roles.append("cv")
        elif isinstance(step, OpenCircuitVoltage):
            roles.append("rest")
        else:
            raise ValueError(
                f"cycle: a {getattr(step, 'step', step)!r} step has no role in a cycle"
            )
    return tuple(roles)


def _discharge_rate(protocol: CyclingProtocol, roles: Sequence[str], capacity: float) -> float:
    """C-rate of the template's (first) discharge step."""
    step = protocol.steps[list(roles).index("discharge")]
    return abs(step.current) / capacity


def twin_protocol(protocol: UnicyclerProtocol, name: str) -> TwinProtocol:
    """`protocol` as the cell twin runs it: one tuple of PyBaMM steps per cycle, C-rates kept
    (so the twin's larger cell is driven as hard as the coin cell). Only the shape every cycler
    here runs (one loop over the whole method) has cycles the twin can report."""
    method = [s for s in protocol.method if not isinstance(s, (Tag, Loop))]
    loops = [s for s in protocol.method if isinstance(s, Loop)]
    once = protocol.model_copy(update={"method": method})
    cycle = tuple(pybamm_experiment(once))
    return TwinProtocol(name, (cycle,) * (loops[-1].cycle_count if loops else 1))
