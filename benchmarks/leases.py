"""`make bench`: what a lease costs on the campaigns database, SQLite file vs PostgreSQL, when
many campaign processes share instruments (the ground the issue-21 load test stands on).

Each of N processes (one per campaign) repeats: take one shared instrument through the fair queue
(`LeaseQueue`), hold it for `--hold` ms, release it. Reports grants per second, how busy the
instrument was (time held / wall time), and the median and 95th-percentile wait, per backend and
N. PostgreSQL is a throwaway Debian cluster on loopback (`tests/postgres.py`).

    python benchmarks/leases.py [--campaigns 1,4,8] [--rounds 20] [--hold 20]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.postgres import PostgresCluster  # noqa: E402  the repo's throwaway cluster

CAMPAIGN = """
import json, sys, time
from electroloop.orchestrator.leases import LeaseBook
from electroloop.orchestrator.lease_queue import LeaseQueue
target, name, rounds, hold = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
book = LeaseBook(target)
queue = LeaseQueue(book, poll=0.002)
print("ready", flush=True)
start = float(sys.stdin.readline())
time.sleep(max(0.0, start - time.time()))
waits, held = [], []
for _ in range(rounds):
    asked = time.perf_counter()
    (got,) = queue.acquire(["balance"], name, ttl=30)
    granted = time.perf_counter()
    time.sleep(hold)
    book.release(got.lease)
    waits.append(granted - asked)
    held.append(time.perf_counter() - granted)
print(json.dumps({"waits": waits, "held": held}), flush=True)
"""


def run(target: str, campaigns: int, rounds: int, hold: float) -> dict[str, float]:
    """Start `campaigns` processes at one instant; gather their waits and hold times."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CAMPAIGN, target, f"c{i}/run", str(rounds), str(hold)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in range(campaigns)
    ]
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    start = time.time() + 0.5
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write(f"{start}\n")
        proc.stdin.flush()
    results = [json.loads(proc.communicate(timeout=600)[0].splitlines()[-1]) for proc in procs]
    wall = time.time() - start
    waits = sorted(w for r in results for w in r["waits"])
    held = sum(h for r in results for h in r["held"])
    return {
        "grants_per_s": len(waits) / wall,
        "busy": held / wall,
        "wait_p50_ms": 1000 * statistics.median(waits),
        "wait_p95_ms": 1000 * waits[int(0.95 * (len(waits) - 1))],
        "slowest_p50_ms": 1000 * max(statistics.median(r["waits"]) for r in results),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--campaigns", default="1,4,8")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--hold", type=float, default=20.0, help="ms each grant is held")
    args = parser.parse_args()
    counts = [int(n) for n in args.campaigns.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as folder, PostgresCluster() as cluster:
        targets = {
            "SQLite": str(Path(folder) / "campaigns.sqlite"),
            "PostgreSQL": cluster.create_database("bench_leases"),
        }
        for backend, target in targets.items():
            for n in counts:
                rows.append((backend, n, run(target, n, args.rounds, args.hold / 1000)))
    print(f"### Leases through the fair queue: SQLite vs PostgreSQL ({platform.node()})\n")
    print(
        f"`python benchmarks/leases.py --campaigns {args.campaigns} --rounds {args.rounds} "
        f"--hold {args.hold:g}`: each campaign process takes one shared instrument "
        f"{args.rounds} times and holds it {args.hold:g} ms.\n"
    )
    print(
        "| database | campaigns | grants/s | instrument busy | wait p50 (ms) | wait p95 (ms) "
        "| slowest campaign's p50 (ms) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for backend, n, r in rows:
        print(
            f"| {backend} | {n} | {r['grants_per_s']:.1f} | {100 * r['busy']:.0f} % | "
            f"{r['wait_p50_ms']:.1f} | {r['wait_p95_ms']:.1f} | {r['slowest_p50_ms']:.1f} |"
        )


if __name__ == "__main__":
    main()
