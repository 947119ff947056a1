"""A simulated cycler as its own process, so a cycling test outlives whoever started it.

A real cycler is a networked instrument: it keeps running its channels when the PC that loaded
them crashes or restarts. A simulator inside the orchestrator would die with it, so campaigns
run this instead (through `electroloop.workflows.cycler_service`):

    python -m electroloop.instruments.sim.cycler_process --channels 8 --speedup 5000 \\
        --seed 0 --port 0 --ready-file PATH [--max-current 0.1] [--driver neware-bts]

`--driver` picks what it speaks: the SCPI reference cycler (``electroloop-cycler``, the
default) or a Neware BTS (``neware-bts``, aurora-neware's XML over TCP). Once listening, it
writes PATH atomically (a temporary file renamed over it, so a reader never sees half of it) as
JSON: ``resource`` (the address its driver opens: a VISA resource, or ``host:port`` for the
BTS), ``port``, ``pid``, ``channels``, ``speedup``, ``seed``, ``max_current`` and
``started_at`` (ISO 8601 UTC). It serves until SIGTERM or SIGINT, then closes the server
(every connection and thread) and exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path

from electroloop.errors import SimulationError
from electroloop.files import write_atomically
from electroloop.instruments.sim.clock import SimClock
from electroloop.instruments.sim.cycler import CyclerServer
from electroloop.instruments.sim.neware import NewareServer

__all__ = ["main"]

_STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}
SERVERS: dict[str, type[CyclerServer] | type[NewareServer]] = {
    "electroloop-cycler": CyclerServer,
    "neware-bts": NewareServer,
}
"""Cycler driver -> the simulator that speaks its protocol."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m electroloop.instruments.sim.cycler_process",
        description="Serve a simulated multichannel cycler on 127.0.0.1 until SIGTERM/SIGINT.",
    )
    parser.add_argument(
        "--driver", choices=sorted(SERVERS), default="electroloop-cycler", help="its protocol"
    )
    parser.add_argument("--channels", type=int, default=8, help="1..64 (default 8)")
    parser.add_argument("--speedup", type=float, default=1.0, help="instrument s per wall s")
    parser.add_argument("--seed", type=int, default=0, help="cell batch spread and noise")
    parser.add_argument("--port", type=int, default=0, help="TCP port; 0 picks a free one")
    parser.add_argument("--max-current", type=float, default=0.1, help="channel range, A")
    parser.add_argument("--ready-file", type=Path, required=True, help="JSON written when up")
    return parser


def _write_ready(path: Path, content: dict[str, object]) -> None:
    """Write `content` to `path` so that a reader sees either no file or the whole of it."""
    write_atomically(path, json.dumps(content, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGTERM/SIGINT; 0 after a clean stop, 2 for bad arguments."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error(f"--port {args.port}; allowed: 0..65535 (0 picks a free port)")
    if not args.max_current > 0:
        parser.error(f"--max-current {args.max_current} A; allowed: > 0")
    # Blocked before any server thread starts (threads inherit the mask), then awaited with
    # sigwait: a signal that arrives during start-up is held, not lost, and no handler runs
    # in the middle of a command.
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    try:
        try:
            clock = SimClock(args.speedup)
            server = SERVERS[args.driver](
                args.channels,
                clock=clock,
                seed=args.seed,
                port=args.port,
                max_current=args.max_current,
            )
        except (SimulationError, ValueError, OSError) as exc:
            parser.error(str(exc))
        with server:
            ready = {
                "resource": (
                    f"{server.host}:{server.port}"
                    if isinstance(server, NewareServer)
                    else server.resource_name
                ),
                "port": server.port,
                "pid": os.getpid(),
                "channels": server.channel_count,
                "speedup": args.speedup,
                "seed": args.seed,
                "max_current": args.max_current,
                "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            }
            _write_ready(args.ready_file, ready)
            print(
                f"{args.driver} simulator pid {ready['pid']}: {ready['channels']} channels on "
                f"{ready['resource']}, speedup {args.speedup:g}, seed {args.seed}",
                flush=True,
            )
            received = signal.sigwait(_STOP_SIGNALS)
            clock.stop()
        print(
            f"{args.driver} simulator pid {ready['pid']}: stopped on "
            f"{signal.Signals(received).name}",
            flush=True,
        )
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
    return 0


if __name__ == "__main__":
    sys.exit(main())
