"""`make bench`: how fast the simulated bench runs: a trial's dosing and measuring, a 10-hour
cycling test on the simulated cycler, and `lab check` of every instrument.

Prints a Markdown section for BENCHMARKS.md; medians over repeats measured in this one run.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from pathlib import Path

from electroloop.instruments.cycler import (
    ChannelLimits,
    CyclingProtocol,
    MultichannelCycler,
    ProtocolStep,
)
from electroloop.instruments.sim.clock import SimClock
from electroloop.instruments.sim.cycler import CyclerServer
from electroloop.instruments.transport import open_resource
from electroloop.kinds.electrolyte.campaign import default_campaign
from electroloop.models import Candidate
from electroloop.samples import BALANCE, METER, rack_slot
from electroloop.settings import Settings, load_lab
from electroloop.workflows.build import Assembly, assemble
from electroloop.workflows.lab_tools import check, endpoints, simulators

CAPACITY = 0.005  # Ah: the simulated cell's default


def dose_and_measure(assembly: Assembly, candidate: Candidate, number: int) -> None:
    """One trial in the instruments alone: the simulated bench puts vial `number` on the
    balance, the station doses it, the bench moves it to the meter, the meter reads it (no
    event log, no Prefect, no MLflow)."""
    assert assembly.simulator is not None
    bench, experiment = assembly.simulator.bench, assembly.campaign.experiment
    vial = f"bench-{number}"
    bench.move(vial, rack_slot(number), BALANCE)
    experiment.prepare(candidate, vial)  # type: ignore[attr-defined]
    bench.move(vial, BALANCE, METER)
    experiment.measure(candidate)  # type: ignore[attr-defined]


def trial_seconds(home: Path, trials: int) -> list[float]:
    """Wall seconds of dose + measure per trial on the embedded lab (its clock's speedup)."""
    spec = default_campaign().model_copy(update={"planner": "sobol", "budget": trials})
    durations = []
    with assemble(spec, Settings(home=home), "bench-trials", []) as assembly:
        loop = assembly.campaign
        loop.start()
        while len(durations) < trials:
            for candidate in loop.propose():
                started = time.perf_counter()
                dose_and_measure(assembly, candidate, len(durations) + 1)
                durations.append(time.perf_counter() - started)
    return durations


def ten_hour_cycling(speedup: float) -> tuple[float, float, int]:
    """Two C/2 CC-CV cycles with rests (about 10 h of instrument time): wall s, instrument h,
    records fetched."""
    protocol = CyclingProtocol(
        steps=(
            ProtocolStep.cc(CAPACITY / 2, 4.2),
            ProtocolStep.cv(4.2, CAPACITY / 20),
            ProtocolStep.rest(1800.0),
            ProtocolStep.cc(-CAPACITY / 2, 2.5),
            ProtocolStep.rest(1800.0),
        ),
        cycles=2,
        record_interval=60.0,
    )
    clock = SimClock(speedup)
    with CyclerServer(1, clock=clock) as server:
        resource = open_resource(server.resource_name, **MultichannelCycler.TERMINATIONS)
        try:
            cycler = MultichannelCycler(
                resource,
                limits=ChannelLimits(min_voltage=2.5, max_voltage=4.2, max_current=0.02),
                clock=clock,
            )
            started = time.perf_counter()
            cycler.load(1, protocol)
            cycler.start(1)
            done = cycler.wait(1, timeout=14 * 3600.0, poll_interval=300.0)
            records, _ = cycler.fetch_all(1)
            return time.perf_counter() - started, done.time / 3600, len(records)
        finally:
            resource.close()


def write_then_query_ms(nodelay: bool, repeats: int = 50) -> float:
    """Median ms for a setting then its read-back (`write` + `query`, as every driver does after
    a setting) against the simulated meter, with Nagle's algorithm off (as `open_resource`
    leaves it) or switched back on."""
    import socket

    from electroloop.instruments.conductivity_meter import ConductivityMeter
    from electroloop.instruments.sim.bench import SimulatedBench
    from electroloop.instruments.sim.meter import MeterServer
    from electroloop.simulations.physics import conductivity
    from electroloop.workflows.build import lab_for, simulated_stocks

    spec = default_campaign()
    bench = SimulatedBench(simulated_stocks(spec.space, lab_for(spec)), 25.0, conductivity, 0)
    with MeterServer(bench) as server:
        resource = open_resource(server.resource_name, **ConductivityMeter.TERMINATIONS)
        try:
            session = resource.visalib.sessions[resource.session]
            session.interface.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, int(nodelay))
            durations = []
            for _ in range(repeats):
                started = time.perf_counter()
                resource.write("SENS:COND:CELL 1.0")
                resource.query("SENS:COND:CELL?")
                durations.append(1000 * (time.perf_counter() - started))
            return statistics.median(durations)
        finally:
            resource.close()


def lab_check_seconds() -> tuple[float, int]:
    """Wall seconds for `lab check` of the embedded lab (simulators already running)."""
    lab, spec = load_lab(), default_campaign()
    with simulators(lab, spec) as sim:
        points = endpoints(lab, spec, sim)
        started = time.perf_counter()
        results = check(lab, points)
        return time.perf_counter() - started, len(results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=8, help="trials to time (8)")
    parser.add_argument("--speedup", type=float, default=30000.0, help="cycler clock (30000)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        trials = trial_seconds(Path(home), args.trials)
    cycling = [ten_hour_cycling(args.speedup) for _ in range(3)]
    checks = [lab_check_seconds() for _ in range(3)]
    nagle = {flag: write_then_query_ms(flag) for flag in (True, False)}
    lab = load_lab()
    print("## Simulated instruments (issue 5)\n")
    print(
        f"`python benchmarks/instruments.py --trials {args.trials} --speedup {args.speedup:g}`; "
        f"{platform.machine()}, Python {platform.python_version()}.\n"
    )
    print("| what | median wall time |")
    print("|---|---|")
    print(
        f"| one trial: 2-6 stocks dosed gravimetrically + one reading, lab.sim.toml "
        f"(speedup {lab.speedup:g}), median of {len(trials)} | {statistics.median(trials):.3f} s |"
    )
    wall, hours, records = sorted(cycling)[1]
    print(
        f"| cycler: 2 C/2 CC-CV cycles with rests = {hours:.1f} h of instrument time at "
        f"speedup {args.speedup:g}, {records} records fetched, median of 3 | {wall:.2f} s |"
    )
    seconds, count = sorted(checks)[1]
    print(f"| `lab check` of {count} instruments, median of 3 | {seconds:.2f} s |")
    print(
        f"| a setting then its read-back over loopback TCP, median of 50: TCP_NODELAY on "
        f"(as `open_resource` sets it) / off (pyvisa-py's default) "
        f"| {nagle[True]:.2f} ms / {nagle[False]:.1f} ms |"
    )


if __name__ == "__main__":
    main()
