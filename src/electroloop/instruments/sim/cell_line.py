"""The simulated technician's line to a cycler: put a freshly filled cell on a channel.

A real cycler cannot fill cells; a technician crimps a coin cell and clips it onto a channel.
The simulator models that with the simulator-only command ``SIM:CHAN<n>:FILL`` (and the query
``SIM:CHAN<n>:FILL?``, docs/cycler_protocol.md, "Simulated hardware"), so a process that only
holds the link (a detached simulator, an orchestrator restarted after a crash) can still set up
a cell. This module holds both sides of that one command: the wire format the server parses
and answers, and `fill_over_link`, the client that sends it and reads it back.
"""

from __future__ import annotations

import math

from electroloop.errors import SimulationError
from electroloop.instruments.sim.scpi import ScpiReject, parse_number
from electroloop.instruments.transport import MessageResource, query, write
from electroloop.simulations.cell_circuit import CellSpec

__all__ = ["FILL_FIELDS", "fill_over_link", "parse_fill", "spec_wire"]

FILL_FIELDS = ("capacity", "electrolyte_conductivity", "temperature", "sei_multiplier")
"""`CellSpec` fields ``SIM:CHAN<n>:FILL`` carries, in order (Ah, mS/cm, °C, dimensionless)."""

_READBACK_TOLERANCE = 1e-6  # relative: NR3 keeps 7 significant digits
_MAX_ERRORS = 32  # the simulator's error queue size


def spec_wire(spec: CellSpec) -> str:
    """The four `FILL_FIELDS` of `spec` in NR3, as ``SIM:CHAN<n>:FILL?`` answers."""
    return ",".join(f"{getattr(spec, name):.6E}" for name in FILL_FIELDS)


def parse_fill(argument: str) -> CellSpec:
    """The freshly filled (SOC 0) cell of a ``SIM:CHAN<n>:FILL`` argument.

    Raises `ScpiReject`: -109 with fewer than four fields, -108 with more, -104 for a field
    that is not a number, -222 when `CellSpec` refuses the values.
    """
    fields = [field.strip() for field in argument.split(",")] if argument.strip() else []
    if len(fields) < len(FILL_FIELDS) or not all(fields):
        raise ScpiReject(-109, "Missing parameter")
    if len(fields) > len(FILL_FIELDS):
        raise ScpiReject(-108, "Parameter not allowed")
    values = [parse_number(field) for field in fields]
    try:
        return CellSpec(**dict(zip(FILL_FIELDS, values, strict=True)), initial_soc=0.0)
    except SimulationError:
        raise ScpiReject(-222, "Data out of range") from None


def fill_over_link(resource: MessageResource, channel: int, spec: CellSpec) -> None:
    """Put a freshly filled cell made to `spec` on `channel` of a simulated cycler, confirmed.

    Sends ``SIM:CHAN<n>:FILL`` (full precision), drains ``SYST:ERR?`` and reads the cell back
    with ``SIM:CHAN<n>:FILL?``. Raises `SimulationError` if the cycler refused (a running
    channel, values out of range, no such channel) or the read-back differs; the error names
    every queued error. A filled cell starts discharged, so `spec.initial_soc` must be 0.
    """
    if isinstance(channel, bool) or not isinstance(channel, int) or channel < 1:
        raise SimulationError(f"channel is {channel!r}; allowed: an integer >= 1")
    if spec.initial_soc != 0.0:
        raise SimulationError(
            f"initial SOC is {spec.initial_soc}; allowed: 0 (a freshly filled cell is discharged)"
        )
    header = f"SIM:CHAN{channel}:FILL"
    write(
        resource,
        f"{header} " + ",".join(repr(float(getattr(spec, f))) for f in FILL_FIELDS),
        instrument="cycler",
    )
    errors = []
    for _ in range(_MAX_ERRORS):
        reply = query(resource, "SYST:ERR?", instrument="cycler").strip()
        if reply.startswith(("0,", "+0,")):
            break
        errors.append(reply)
    if errors:
        raise SimulationError(
            f"the cycler refused {header} (channel {channel}): {'; '.join(errors)}"
        )
    reply = query(resource, f"{header}?", instrument="cycler").strip()
    try:
        held = [float(field) for field in reply.split(",")]
    except ValueError:
        held = []
    wanted = [float(getattr(spec, name)) for name in FILL_FIELDS]
    if len(held) != len(wanted) or not all(
        math.isclose(h, w, rel_tol=_READBACK_TOLERANCE) for h, w in zip(held, wanted, strict=True)
    ):
        raise SimulationError(
            f"cycler channel {channel} holds a cell of {reply!r} after {header}; "
            f"sent {spec_wire(spec)!r} ({', '.join(FILL_FIELDS)})"
        )
