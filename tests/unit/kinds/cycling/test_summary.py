"""Per-cycle numbers from a simulated cycler run, and the edge cases of records in pages."""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Iterator
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

from electroloop.instruments.cycler import (
    ChannelLimits,
    CycleRecord,
    CyclingProtocol,
    MultichannelCycler,
    ProtocolStep,
)
from electroloop.instruments.sim.clock import SimClock
from electroloop.instruments.sim.cycler import CyclerServer
from electroloop.instruments.transport import open_resource
from electroloop.kinds.cycling.cell_plots import plot_cell
from electroloop.kinds.cycling.summary import (
    CycleStats,
    PhaseData,
    curves,
    summarize,
    to_cycle_summaries,
)
from tests.floats import SAME_COMPUTATION, assert_close

Q = 0.005  # Ah, the simulator's default cell; 1C = 5 mA
STANDARD = ("charge", "cv", "rest", "pulse", "discharge", "rest")
NO_PULSE = ("charge", "cv", "rest", "discharge", "rest")
STEP_SUM = 1e-12
"""Relative tolerance on a cycle's totals against the same sum redone here: both add the parsed
step-end values (7 significant digits from the cycler), so only the additions' rounding may
differ; picking a wrong record would be off by a whole record interval (~1e-2 relative)."""


def template(discharge_rate: float, *, pulse: bool) -> tuple[ProtocolStep, ...]:
    """C/2 CC-CV charge, 10 min rest, [10 s 2C pulse], CC discharge at `discharge_rate` C, rest."""
    steps = [ProtocolStep.cc(Q / 2, 4.2), ProtocolStep.cv(4.2, Q / 20), ProtocolStep.rest(600.0)]
    if pulse:
        steps.append(ProtocolStep.cc(-2 * Q, 2.5, 10.0))
    steps += [ProtocolStep.cc(-discharge_rate * Q, 2.5), ProtocolStep.rest(600.0)]
    return tuple(steps)


@dataclasses.dataclass(frozen=True)
class Run:
    phases: tuple[PhaseData, ...]
    r0: float  # Ω, the simulated cell's series resistance after the run
    r1: float  # Ω, its RC-pair resistance


@pytest.fixture(scope="module")
def run() -> Iterator[Run]:
    """Formation (2 cycles at C/2, no pulse) then cycling (3 cycles at 1C with the pulse) on
    one channel of the simulated cycler, every phase run to DONE and fetched whole."""
    clock = SimClock(speedup=200_000.0)  # 40 h of instrument time in under a second
    plan = (("formation", 0.5, 2, NO_PULSE), ("cycling", 1.0, 3, STANDARD))
    with CyclerServer(1, clock=clock, seed=3) as server:
        resource = open_resource(
            server.resource_name, timeout=0.5, **MultichannelCycler.TERMINATIONS
        )
        cycler = MultichannelCycler(resource, limits=ChannelLimits(max_current=0.02), clock=clock)
        try:
            phases = []
            for name, rate, cycles, roles in plan:
                protocol = template(rate, pulse="pulse" in roles)
                cycler.load(1, CyclingProtocol(protocol, cycles=cycles, record_interval=60.0))
                since = cycler.record_count(1)
                cycler.start(1)
                cycler.wait(1, timeout=100 * 3600.0, poll_interval=600.0)
                records, _ = cycler.fetch_all(1, since)
                phases.append(PhaseData(name, roles, tuple(records), done=True))
        finally:
            cycler.close()
        cell = server.cell(1)
        yield Run(tuple(phases), cell.resistance, cell.r1)


def ends(phase: PhaseData) -> dict[tuple[int, int], CycleRecord]:
    """The last record of every (cycle, step), found independently of the module."""
    out: dict[tuple[int, int], CycleRecord] = {}
    for record in phase.records:
        out[record.cycle, record.step] = record
    return out


def test_simulated_run_gives_every_cycle_in_order(run: Run) -> None:
    stats = summarize(run.phases)
    assert [s.cycle for s in stats] == [1, 2, 3, 4, 5]
    assert [(s.phase, s.phase_cycle) for s in stats] == [
        ("formation", 1),
        ("formation", 2),
        ("cycling", 1),
        ("cycling", 2),
        ("cycling", 3),
    ]
    assert all(a.end_time < b.end_time for a, b in zip(stats, stats[1:], strict=False))


def test_capacities_and_energies_are_the_step_ends(run: Run) -> None:
    stats = summarize(run.phases)
    for phase, discharge_step in zip(run.phases, (4, 5), strict=True):
        last = ends(phase)
        for s in (s for s in stats if s.phase == phase.name):
            c = s.phase_cycle
            charge_capacity = last[c, 1].capacity + last[c, 2].capacity
            assert s.charge_capacity == pytest.approx(charge_capacity, rel=STEP_SUM, abs=0.0)
            charge_energy = last[c, 1].energy + last[c, 2].energy
            assert s.charge_energy == pytest.approx(charge_energy, rel=STEP_SUM, abs=0.0)
            discharge_capacity = last[c, discharge_step].capacity
            assert s.discharge_capacity == pytest.approx(discharge_capacity, rel=STEP_SUM, abs=0.0)
            discharge_energy = last[c, discharge_step].energy
            assert s.discharge_energy == pytest.approx(discharge_energy, rel=STEP_SUM, abs=0.0)


def test_simulated_numbers_are_physical(run: Run) -> None:
    for s in summarize(run.phases):
        assert s.discharge_capacity == pytest.approx(Q, rel=0.05)
        # The pulse's charge is not in the discharge, so the 1C cycles show a lower CE.
        assert 0.985 < s.coulombic_efficiency <= 1.0
        assert 3.5 < s.mean_discharge_voltage < s.mean_charge_voltage < 3.9
        rate = 0.5 if s.phase == "formation" else 1.0
        assert s.discharge_current == pytest.approx(rate * Q, rel=1e-3)


def test_pulse_resistance_is_between_r0_and_r0_plus_r1(run: Run) -> None:
    # After 10 s of a 30 s time constant the RC pair has built up 28 % of R1, plus the small
    # OCV drop of 10 s at 2C: the DC resistance lies between R0 and R0 + R1.
    for s in summarize(run.phases):
        if s.phase == "formation":
            assert math.isnan(s.resistance)  # no pulse in the template
        else:
            assert run.r0 < s.resistance < run.r0 + run.r1


def test_pages_and_duplicates_give_the_same_answer(run: Run) -> None:
    formation, cycling = run.phases
    shuffled = list(cycling.records) + list(cycling.records[100:300])  # a page fetched twice
    random.Random(0).shuffle(shuffled)
    again = (formation, dataclasses.replace(cycling, records=tuple(shuffled)))
    assert_close(summarize(again), summarize(run.phases), **SAME_COMPUTATION)
    assert_close(curves(again), curves(run.phases), **SAME_COMPUTATION)


def test_a_reported_cycle_never_changes_as_records_arrive(run: Run) -> None:
    formation, cycling = run.phases
    final = summarize(run.phases)
    final_curves = curves(run.phases)
    seen = set()
    for k in [*range(0, len(cycling.records), 5), len(cycling.records)]:
        partial = (formation, dataclasses.replace(cycling, records=cycling.records[:k], done=False))
        stats = summarize(partial)
        assert_close(stats, final[: len(stats)], **SAME_COMPUTATION)
        assert_close(curves(partial), final_curves[: 2 * len(stats)], **SAME_COMPUTATION)
        seen.add(len(stats))
    assert seen == {2, 3, 4, 5}


def test_cycle_completes_with_the_record_after_its_discharge(run: Run) -> None:
    formation, cycling = run.phases
    records = cycling.records
    end = max(i for i, r in enumerate(records) if (r.cycle, r.step) == (2, 5))

    def complete(k: int, done: bool = False) -> int:
        partial = dataclasses.replace(cycling, records=records[:k], done=done)
        return len(summarize((formation, partial)))

    assert complete(end + 1) == 3  # the discharge END record alone may be an interval record
    assert complete(end + 2) == 4  # the rest that follows proves the discharge ended
    assert complete(end + 1, done=True) == 4  # or the instrument says the protocol finished


def test_stopped_phase_drops_its_cut_cycle_and_keeps_the_numbering(run: Run) -> None:
    formation, cycling = run.phases
    cut = max(i for i, r in enumerate(formation.records) if (r.cycle, r.step) == (2, 4)) - 3
    stopped = dataclasses.replace(formation, records=formation.records[:cut], done=False)
    stats = summarize((stopped, cycling))
    # Formation cycle 2 was cut in its discharge: dropped; cycling still starts at cycle 3.
    assert [(s.cycle, s.phase, s.phase_cycle) for s in stats] == [
        (1, "formation", 1),
        (3, "cycling", 1),
        (4, "cycling", 2),
        (5, "cycling", 3),
    ]
    # The same numbers, only earlier in test time: the cut formation ran for less time.
    full = summarize(run.phases)[2:]
    assert_close(
        [dataclasses.replace(s, end_time=0.0) for s in stats[1:]],
        [dataclasses.replace(s, end_time=0.0) for s in full],
        **SAME_COMPUTATION,
    )
    shifts = [b.end_time - a.end_time for a, b in zip(stats[1:], full, strict=True)]
    # Seconds of test time: one offset difference, added to times of ~1e5 s (rounds ~1e-11 s).
    assert shifts[0] > 0 and shifts == pytest.approx([shifts[0]] * 3, rel=0.0, abs=1e-9)


def test_curves_follow_the_capacity_of_each_cycle(run: Run) -> None:
    stats = {s.cycle: s for s in summarize(run.phases)}
    all_curves = curves(run.phases)
    assert sorted((c.cycle, c.step) for c in all_curves) == [
        (n, step) for n in range(1, 6) for step in ("charge", "discharge")
    ]
    for curve in all_curves:
        s = stats[curve.cycle]
        expected = s.charge_capacity if curve.step == "charge" else s.discharge_capacity
        # mAh: the same step ends summed and scaled, only the rounding may differ
        assert curve.capacity[-1] == pytest.approx(1000.0 * expected, rel=STEP_SUM, abs=0.0)
        assert np.all(np.diff(curve.capacity) >= 0)  # CV continues the CC charge's capacity
    only = curves(run.phases, "cycling")
    assert {c.cycle for c in only} == {3, 4, 5}
    with pytest.raises(ValueError, match=r"phase 'aging'.*allowed: \['formation', 'cycling'\]"):
        curves(run.phases, "aging")


def test_cycle_summaries_for_the_fade_plot(run: Run) -> None:
    summaries = to_cycle_summaries(summarize(run.phases))
    assert [s.cycle for s in summaries] == [1, 2, 3, 4, 5]
    assert summaries[0].discharge_capacity == pytest.approx(1000.0 * Q, rel=0.05)  # mAh


def test_plot_cell_writes_both_plots(run: Run, tmp_path: Path) -> None:
    paths = plot_cell(run.phases, tmp_path / "plots", "cell-01", "LP30, 25 °C")
    assert [p.name for p in paths] == ["cell-01_vq.png", "cell-01_fade.png"]
    for path in paths:
        image = matplotlib.image.imread(path)
        assert image.shape[0] >= 300 and float(np.std(image)) > 0.01


def test_plot_cell_writes_nothing_before_a_cycle_completes(run: Run, tmp_path: Path) -> None:
    formation = dataclasses.replace(run.phases[0], records=run.phases[0].records[:50], done=False)
    assert plot_cell((formation,), tmp_path, "cell-01", "early") == []
    assert not list(tmp_path.iterdir())


# -- hand-built records: edge cases --------------------------------------------------------


def record(index: int, cycle: int, step: int, current: float, capacity: float) -> CycleRecord:
    voltage = 3.7 + (0.1 if current > 0 else -0.1 if current < 0 else 0.0)
    return CycleRecord(index, 10.0 * index, cycle, step, current, voltage, capacity, 3.7 * capacity,
                       25.0)  # fmt: skip


def test_discharge_only_cycle_has_nan_efficiency() -> None:
    records = (record(0, 1, 1, -0.005, 0.0), record(1, 1, 1, -0.005, 0.004), record(2, 1, 2, 0, 0))
    (s,) = summarize([PhaseData("rate-1C", ("discharge", "rest"), records)])
    # totals are sums over the steps (here one discharge step and no charge step): rounding only
    assert isinstance(s, CycleStats) and s.discharge_capacity == pytest.approx(
        0.004, rel=STEP_SUM, abs=0.0
    )
    assert s.charge_capacity == pytest.approx(0.0, abs=1e-15) and math.isnan(s.coulombic_efficiency)
    assert math.isnan(s.mean_charge_voltage) and math.isnan(s.resistance)
    assert to_cycle_summaries([s]) == []  # no charge: no Coulombic efficiency to plot


def test_pulse_role_without_pulse_records_gives_nan_resistance() -> None:
    roles = ("charge", "rest", "pulse", "discharge", "rest")
    records = (
        record(0, 1, 1, 0.005, 0.0),
        record(1, 1, 1, 0.005, 0.005),
        record(2, 1, 2, 0.0, 0.0),
        record(3, 1, 4, -0.005, 0.0049),
        record(4, 1, 5, 0.0, 0.0),
    )
    (s,) = summarize([PhaseData("cycling", roles, records)])
    # 0.0049 Ah out / 0.005 Ah in: one division, only its rounding
    assert math.isnan(s.resistance) and s.coulombic_efficiency == pytest.approx(0.98, rel=1e-12)


@pytest.mark.parametrize(
    ("phase", "match"),
    [
        (PhaseData("x", ("charge",), (record(0, 1, 2, 0.0, 0.0),)), r"step 2; allowed: 1\.\.1"),
        (PhaseData("x", ("charge",), (record(0, 0, 1, 0.0, 0.0),)), r"cycle 0; allowed: >= 1"),
        (
            PhaseData("x", ("charge",), (record(0, 1, 1, 0.0, 0.0), record(0, 1, 1, 1.0, 0.0))),
            r"two different records with index 0",
        ),
    ],
)
def test_bad_records_fail_loudly(phase: PhaseData, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        summarize([phase])


def test_unknown_role_fails_loudly() -> None:
    with pytest.raises(ValueError, match=r"roles of phase 'x' holds 'boost'; allowed"):
        PhaseData("x", ("charge", "boost"), ())


def test_phase_names_must_be_distinct() -> None:
    phase = PhaseData("cycling", STANDARD, ())
    with pytest.raises(ValueError, match=r"distinct names, duplicated: \['cycling'\]"):
        summarize([phase, phase])
