"""Records per second ingested from the simulated Neware BTS (issue 18).

One channel of `NewareServer` runs C/2 cycles with a record every `--interval` s until it holds
about `--records` records (a `SteppedClock` moves instrument time at once; the integration is
done before timing). Then the whole test is read, `--repeats` times each, through
`NewareCycler.fetch_all` (1000-record downloads, the step layer, index mapping and checks) and
through aurora-neware's own `NewareAPI.download` (1000-record chunks, parsed to a dict of lists),
and for comparison the same records from the SCPI cycler simulator through
`MultichannelCycler.fetch_all` (500 a query). Prints a Markdown line with the median rates.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from aurora_neware import NewareAPI

from electroloop.clocks import SteppedClock
from electroloop.instruments.cycler import (
    ChannelLimits,
    CyclingProtocol,
    MultichannelCycler,
    ProtocolStep,
)
from electroloop.instruments.neware import NewareCycler
from electroloop.instruments.sim.cycler import CyclerServer
from electroloop.instruments.sim.neware import NewareServer
from electroloop.instruments.transport import open_resource

LIMITS = ChannelLimits(min_voltage=2.5, max_voltage=4.2, max_current=0.005)
CYCLE_HOURS = 4.3  # a C/2 CC-CV charge, a C/2 discharge and a short rest of the 5 mAh cell


def protocol(records: int, interval: float) -> CyclingProtocol:
    cycles = max(1, round(records * interval / (CYCLE_HOURS * 3600.0)))
    return CyclingProtocol(
        (
            ProtocolStep.cc(0.0025, 4.2),
            ProtocolStep.cv(4.2, 0.00025),
            ProtocolStep.rest(600.0),
            ProtocolStep.cc(-0.0025, 2.5),
        ),
        cycles=cycles,
        record_interval=interval,
    )


def median_rate(read: Callable[[], int], repeats: int) -> tuple[float, int]:
    """(median records/s, records read) over `repeats` reads."""
    rates, count = [], 0
    for _ in range(repeats):
        started = time.perf_counter()
        count = read()
        rates.append(count / (time.perf_counter() - started))
    return statistics.median(rates), count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=20000, help="records to ingest (20000)")
    parser.add_argument("--interval", type=float, default=10.0, help="record interval s (10)")
    parser.add_argument("--repeats", type=int, default=5, help="reads per path (5)")
    args = parser.parse_args()
    steps = protocol(args.records, args.interval)
    later = steps.cycles * CYCLE_HOURS * 3600.0 * 1.5
    clock = SteppedClock()
    with NewareServer(1, clock=clock) as bts, tempfile.TemporaryDirectory() as folder:  # type: ignore[arg-type]
        cycler = NewareCycler(f"127.0.0.1:{bts.port}", step_folder=Path(folder), limits=LIMITS)
        cycler.load(1, steps)
        cycler.start(1)
        clock.time = later
        assert cycler.status(1).state == "DONE"  # integrated now, not while timed
        driver_rate, count = median_rate(lambda: len(cycler.fetch_all(1)[0]), args.repeats)
        cycler.close()
        with NewareAPI("127.0.0.1", bts.port) as api:
            pid = next(iter(api.channel_map))
            api_rate, _ = median_rate(lambda: len(api.download(pid, 0)["seqid"]), args.repeats)
    scpi_clock = SteppedClock()
    with CyclerServer(1, clock=scpi_clock) as sim:  # type: ignore[arg-type]
        with open_resource(sim.resource_name, **MultichannelCycler.TERMINATIONS) as io:
            scpi = MultichannelCycler(io, limits=LIMITS)
            scpi.load(1, steps)
            scpi.start(1)
            scpi_clock.time = later
            scpi.status(1)
            scpi_rate, _ = median_rate(lambda: len(scpi.fetch_all(1)[0]), args.repeats)
    print(
        f"Neware simulator ingest, `python benchmarks/neware_ingest.py --records {args.records} "
        f"--repeats {args.repeats}` ({count} records, {steps.cycles} cycles; "
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}): "
        f"**{driver_rate:,.0f} records/s** through `NewareCycler.fetch`, "
        f"{api_rate:,.0f} records/s through `NewareAPI.download`; "
        f"SCPI cycler simulator through `MultichannelCycler.fetch` {scpi_rate:,.0f} records/s "
        f"(median of {args.repeats})."
    )


if __name__ == "__main__":
    main()
