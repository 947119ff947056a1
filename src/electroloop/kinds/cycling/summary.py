"""Per-cycle numbers of a cell's cycling test, from the cycler's raw records.

A cell's test on one channel runs as a sequence of *phases* (formation, rate steps, long-term
cycling), each a downloaded one-cycle template repeated by the instrument's LOOP
(docs/cycler_protocol.md). So a record's `cycle` counts within its phase and its `step` is the
1-based step of the template; `PhaseData.roles` says what each template step does. Capacity Ah
and energy Wh count from the start of each step, so a step's totals are those of its last record.

A cycle is *complete* once its discharge step has ended: a later record of the phase belongs to
another step or cycle, or the instrument reported the phase finished. Only complete cycles are
summarised, so the numbers of a cycle never change as more records arrive (pages may split the
records anywhere), and a cycle cut short by a stop or a safety trip is dropped, not reported
with a truncated discharge.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

from electroloop.instruments.cycler import CycleRecord
from electroloop.kinds.cycling.plots import CycleCurve, CycleSummary

__all__ = [
    "CHARGE_ROLES",
    "DISCHARGE_ROLES",
    "PhaseData",
    "PhaseRecords",
    "Role",
    "CycleStats",
    "curves",
    "global_cycle_offsets",
    "ordered_records",
    "summarize",
    "to_cycle_summaries",
]

Role = Literal["charge", "cv", "rest", "pulse", "discharge"]
"""What a template step does: CC charge, CV hold at top of charge, open circuit, the 10 s DC
resistance pulse (a CC discharge after the rest at top of charge), CC discharge."""

CHARGE_ROLES: frozenset[str] = frozenset({"charge", "cv"})
DISCHARGE_ROLES: frozenset[str] = frozenset({"discharge"})
MAH_PER_AH = 1000.0


@dataclass(frozen=True)
class PhaseData:
    """One phase of a cell's test: its name, the role of template step 1, 2, …, its records so
    far, and `done`: the instrument reported the protocol finished (state DONE), so its last
    cycle is complete even with no later record."""

    name: str
    roles: tuple[str, ...]
    records: tuple[CycleRecord, ...]
    done: bool = False

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("PhaseData.name must be a non-empty string")
        allowed = get_args(Role)
        roles = tuple(self.roles)
        if not roles:
            raise ValueError(f"PhaseData.roles of phase {self.name!r} must hold >= 1 role")
        bad = [role for role in roles if role not in allowed]
        if bad:
            raise ValueError(
                f"PhaseData.roles of phase {self.name!r} holds {bad[0]!r}; allowed: {allowed}"
            )
        object.__setattr__(self, "roles", roles)
        object.__setattr__(self, "records", tuple(self.records))


@dataclass(frozen=True)
class CycleStats:
    """One complete cycle. Capacities Ah, energies Wh, voltages V, resistance Ω, current A,
    time s. `cycle` counts from 1 across the phases in order, `phase_cycle` within the phase.

    charge_* sum the charge and cv steps; discharge_* the discharge step only (the resistance
    pulse is left out so rate tests compare like with like). `coulombic_efficiency` is all the
    charge out (discharge and pulse) over all the charge in, in the same cycle (nan with no
    charge), the mean voltages are energy /
    capacity (nan with none), `resistance` the 10 s pulse DC resistance (nan with no pulse),
    `discharge_current` the mean |I| of the discharge records, and `end_time` the test time of
    the cycle's last discharge record (see `ordered_records` for how phase clocks are joined).
    """

    cycle: int
    phase: str
    phase_cycle: int
    charge_capacity: float
    discharge_capacity: float
    charge_energy: float
    discharge_energy: float
    coulombic_efficiency: float
    mean_charge_voltage: float
    mean_discharge_voltage: float
    resistance: float
    discharge_current: float
    end_time: float


@dataclass(frozen=True)
class PhaseRecords:
    """A phase's records in index order (duplicates dropped), with where they sit in the test:
    `cycle_offset` is added to a record's cycle for the global cycle number, `time_offset` s to
    its time for the test time."""

    phase: PhaseData
    records: tuple[CycleRecord, ...]
    cycle_offset: int
    time_offset: float

    def role(self, record: CycleRecord) -> str:
        """The role of `record`'s template step."""
        return self.phase.roles[record.step - 1]


def _sorted_unique(phase: PhaseData) -> tuple[CycleRecord, ...]:
    """Records by index; the same record fetched twice (a re-asked page) is kept once."""
    by_index: dict[int, CycleRecord] = {}
    for record in phase.records:
        if not 1 <= record.step <= len(phase.roles):
            raise ValueError(
                f"record {record.index} of phase {phase.name!r} has step {record.step}; "
                f"allowed: 1..{len(phase.roles)} (the phase's roles)"
            )
        if record.cycle < 1:
            raise ValueError(
                f"record {record.index} of phase {phase.name!r} has cycle {record.cycle}; "
                "allowed: >= 1"
            )
        seen = by_index.setdefault(record.index, record)
        if seen != record:
            raise ValueError(
                f"phase {phase.name!r} holds two different records with index {record.index}"
            )
    return tuple(by_index[index] for index in sorted(by_index))


def global_cycle_offsets(phases: Sequence[PhaseData]) -> list[int]:
    """Cycles of the phases before each phase: the highest cycle each has started.

    Counting started (not complete) cycles keeps every record's global cycle number unique and
    fixed once later phases start; a cycle dropped as incomplete leaves a gap in the numbers.
    """
    offsets, total = [], 0
    for phase in phases:
        offsets.append(total)
        total += max((record.cycle for record in phase.records), default=0)
    return offsets


def ordered_records(phases: Sequence[PhaseData]) -> list[PhaseRecords]:
    """Every phase's records in index order with its global cycle and test-time offsets.

    Each phase's clock restarts at its START; the test time of a record is its time plus the
    run time of the phases before it (their last record's time). The idle time between phases
    is not recorded by the instrument, so it is not counted.
    """
    names = [phase.name for phase in phases]
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise ValueError(f"phases must have distinct names, duplicated: {duplicated}")
    out, time_offset = [], 0.0
    for phase, cycle_offset in zip(phases, global_cycle_offsets(phases), strict=True):
        records = _sorted_unique(phase)
        out.append(PhaseRecords(phase, records, cycle_offset, time_offset))
        time_offset += records[-1].time if records else 0.0
    return out


@dataclass(frozen=True)
class _Cycle:
    """The records of one complete cycle, grouped by template step (index order)."""

    phase: PhaseRecords
    number: int
    steps: dict[int, list[CycleRecord]]

    def last(self, step: int) -> CycleRecord | None:
        records = self.steps.get(step)
        return records[-1] if records else None

    def steps_with(self, roles: frozenset[str]) -> list[int]:
        return sorted(s for s in self.steps if self.phase.phase.roles[s - 1] in roles)

    def total(self, roles: frozenset[str], field: Literal["capacity", "energy"]) -> float:
        """Sum over the steps with `roles` of their last record's `field`."""
        ends = [self.steps[s][-1] for s in self.steps_with(roles)]
        return sum((r.capacity if field == "capacity" else r.energy for r in ends), start=0.0)


def _complete_cycles(phase: PhaseRecords) -> list[_Cycle]:
    """The phase's cycles whose discharge has ended (see the module docstring)."""
    grouped: dict[int, dict[int, list[CycleRecord]]] = {}
    for record in phase.records:
        grouped.setdefault(record.cycle, {}).setdefault(record.step, []).append(record)
    newest = phase.records[-1].index if phase.records else -1
    complete = []
    for number in sorted(grouped):
        cycle = _Cycle(phase, number, grouped[number])
        discharge = [r for s in cycle.steps_with(DISCHARGE_ROLES) for r in cycle.steps[s]]
        # Any record newer than the cycle's newest discharge record belongs to another step
        # or cycle, so the discharge has ended.
        if discharge and (phase.phase.done or max(r.index for r in discharge) < newest):
            complete.append(cycle)
    return complete


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator > 0 else math.nan


def _pulse_resistance(cycle: _Cycle) -> float:
    """10 s DC resistance: (V at the end of the rest before the pulse − V at the end of the
    pulse) / |I of the pulse|, the discharge pulse resistance ΔV/ΔI of the HPPC test of the
    USABC/DOE battery test manuals (FreedomCAR Battery Test Manual for Power-Assist Hybrid
    Electric Vehicles, DOE/ID-11069, INEEL 2003; Battery Test Manual for Electric Vehicles,
    rev. 3, INL/EXT-15-34184, 2015). nan without a pulse or without a rest right before it.
    """
    roles = cycle.phase.phase.roles
    for step in cycle.steps_with(frozenset({"pulse"})):
        pulse_end = cycle.last(step)
        rest_end = cycle.last(step - 1) if step > 1 and roles[step - 2] == "rest" else None
        if pulse_end is None or rest_end is None or pulse_end.current == 0.0:
            continue
        return (rest_end.voltage - pulse_end.voltage) / abs(pulse_end.current)
    return math.nan


def _stats(cycle: _Cycle) -> CycleStats:
    phase = cycle.phase
    charge = cycle.total(CHARGE_ROLES, "capacity")
    discharge = cycle.total(DISCHARGE_ROLES, "capacity")
    charge_energy = cycle.total(CHARGE_ROLES, "energy")
    discharge_energy = cycle.total(DISCHARGE_ROLES, "energy")
    pulse = cycle.total(frozenset({"pulse"}), "capacity")
    discharge_records = [r for s in cycle.steps_with(DISCHARGE_ROLES) for r in cycle.steps[s]]
    last = max(discharge_records, key=lambda r: r.index)
    return CycleStats(
        cycle=phase.cycle_offset + cycle.number,
        phase=phase.phase.name,
        phase_cycle=cycle.number,
        charge_capacity=charge,
        discharge_capacity=discharge,
        charge_energy=charge_energy,
        discharge_energy=discharge_energy,
        coulombic_efficiency=_ratio(discharge + pulse, charge),  # all charge out / all in
        mean_charge_voltage=_ratio(charge_energy, charge),
        mean_discharge_voltage=_ratio(discharge_energy, discharge),
        resistance=_pulse_resistance(cycle),
        discharge_current=sum(abs(r.current) for r in discharge_records) / len(discharge_records),
        end_time=phase.time_offset + last.time,
    )


def summarize(phases: Sequence[PhaseData]) -> list[CycleStats]:
    """The complete cycles of `phases` (in test order), one `CycleStats` each, by global cycle.

    The same records give the same answer however they were split into pages or ordered; a
    cycle's numbers never change once it is reported.
    """
    return [_stats(c) for phase in ordered_records(phases) for c in _complete_cycles(phase)]


def _curve(
    cycle: _Cycle, roles: frozenset[str], step: Literal["charge", "discharge"]
) -> list[CycleCurve]:
    """One `CycleCurve` (or none with < 2 points) over the steps with `roles`, capacity in mAh
    accumulated across those steps (a CV hold continues the CC charge's capacity)."""
    capacity: list[float] = []
    voltage: list[float] = []
    offset = 0.0
    for number in cycle.steps_with(roles):
        for record in cycle.steps[number]:
            capacity.append((offset + record.capacity) * MAH_PER_AH)
            voltage.append(record.voltage)
        offset += cycle.steps[number][-1].capacity
    if len(capacity) < 2:
        return []
    number = cycle.phase.cycle_offset + cycle.number
    return [CycleCurve(number, step, tuple(capacity), tuple(voltage))]


def curves(phases: Sequence[PhaseData], phase: str | None = None) -> list[CycleCurve]:
    """Voltage–capacity curves (mAh, V) of the complete cycles' charge (charge + cv) and
    discharge, numbered by global cycle, for `cycling_plots.voltage_capacity_plot`.

    `phase` keeps one phase's cycles (None: all). A curve with fewer than two records (a step
    shorter than the record interval) is left out: it is no curve.
    """
    ordered = ordered_records(phases)
    names = [p.phase.name for p in ordered]
    if phase is not None and phase not in names:
        raise ValueError(f"phase {phase!r} is not among the phases; allowed: {names}")
    out: list[CycleCurve] = []
    for records in ordered:
        if phase is not None and records.phase.name != phase:
            continue
        for cycle in _complete_cycles(records):
            out += _curve(cycle, CHARGE_ROLES, "charge")
            out += _curve(cycle, DISCHARGE_ROLES, "discharge")
    return out


def to_cycle_summaries(stats: Sequence[CycleStats]) -> list[CycleSummary]:
    """`CycleStats` as `cycling_plots.CycleSummary` (mAh) for `capacity_fade_plot`.

    Cycles with no charge (a Coulombic efficiency has no meaning there) are left out.
    """
    return [
        CycleSummary(s.cycle, s.charge_capacity * MAH_PER_AH, s.discharge_capacity * MAH_PER_AH)
        for s in stats
        if s.charge_capacity > 0
    ]
