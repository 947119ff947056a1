"""Write cycler records as a BioLogic EC-Lab ``.mpr`` file: what a fake EC-Lab leaves behind.

EC-Lab's binary format is not published; this writer follows the layout that galvani's reader
parses (galvani 0.5.0, ``galvani/BioLogic.py``, github.com/echemdata/galvani, reverse engineered
from EC-Lab files): the 52-byte magic ``BIO-LOGIC MODULAR FILE\\x1a`` (padded to 48 bytes, then
four zero bytes), then modules, each ``MODULE`` + a 51-byte header (short name 10 bytes, long
name 25 bytes, data length u4, version u4, date ``mm/dd/yy``) + its data:

- ``VMP Set``: the settings (only its date is read by galvani; ours holds no technique);
- ``VMP data`` version 2: number of points u4, number of columns u1, column ids u2, zeros up to
  byte 405, then one packed little-endian row per point, in column-id order, the flag columns
  sharing one byte where the first of them stands;
- ``VMP LOG``: the start as an OLE automation date (days since 1899-12-30, f8) at byte 465.

Columns written (id: name, type): flags byte (1 mode: 1 CC, 2 CV, 3 rest; 2 ox/red: 1 while
I > 0; 3 error; 31 Ns changes), 4 ``time/s`` f8, 6 ``Ewe/V`` f4, 8 ``I/mA`` f4, 24 ``cycle
number`` f8, 131 ``Ns`` u2, 13 ``(Q-Qo)/mA.h`` f8, 74 ``|Energy|/W.h`` f8, 462
``Temperature/°C`` f4. As EC-Lab does, ``cycle number`` and ``Ns`` (the sequence of the
technique) count from 0, so a record's cycle and step are written less one.

Signs: EC-Lab's current is positive for an oxidation at the working electrode, the cathode of a
full cell on charge, so a charge current is positive as in `CycleRecord`. ``(Q-Qo)`` is the net
charge passed since the start (charge positive); ``|Energy|`` the energy throughput since the
start. Both are built from the records' step-relative capacity and energy: a step's quantities
count from the previous step's last record, so the reader recovers them as differences.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np

from electroloop.errors import ConfigError
from electroloop.instruments.cycler import CycleRecord
from electroloop.instruments.sim.record_run import check_run

__all__ = ["MPR_COLUMNS", "MPR_MAGIC", "write_mpr"]

MPR_MAGIC = b"BIO-LOGIC MODULAR FILE\x1a".ljust(48) + b"\x00\x00\x00\x00"
DATA_HEADER_BYTES = 405  # VMP data version 2: rows start here
LOG_TIMESTAMP_OFFSET = 465
LOG_BYTES = 593
OLE_EPOCH = datetime(1899, 12, 30, tzinfo=UTC)
OLE_DAYS = (40000.0, 50000.0)  # the window galvani accepts: 2009-07-06 .. 2036-11-22
MODES = {"cc": 1, "cv": 2, "rest": 3}
IDLE_FRACTION = 1e-3  # a step whose mean |I| is below this part of the largest is a rest
ROLE_MODES = {"charge": 1, "cv": 2, "rest": 3, "pulse": 1, "discharge": 1}

MPR_COLUMNS: tuple[int, ...] = (1, 2, 3, 31, 4, 6, 8, 24, 131, 13, 74, 462)
"""Column ids of the data module, in row order (galvani's ``VMPdata_colID_*_map``)."""

_ROW = np.dtype(
    [
        ("flags", "u1"),
        ("time/s", "<f8"),
        ("Ewe/V", "<f4"),
        ("I/mA", "<f4"),
        ("cycle number", "<f8"),
        ("Ns", "<u2"),
        ("(Q-Qo)/mA.h", "<f8"),
        ("|Energy|/W.h", "<f8"),
        ("Temperature/°C", "<f4"),
    ]
)


def _module(short: str, long: str, version: int, day: date, data: bytes) -> bytes:
    header = struct.pack(
        "<10s25sII8s",
        short.ljust(10).encode("ascii"),
        long.ljust(25).encode("ascii"),
        len(data),
        version,
        day.strftime("%m/%d/%y").encode("ascii"),
    )
    return b"MODULE" + header + data


def _check(records: Sequence[CycleRecord], started: datetime, roles: Sequence[str] | None) -> None:
    check_run(records, roles, max_step=65535)
    days = (started - OLE_EPOCH) / timedelta(days=1)
    if not OLE_DAYS[0] < days < OLE_DAYS[1]:
        raise ConfigError(
            f"started {started.isoformat()}: outside what EC-Lab's log date can hold for its "
            "readers; allowed: 2009-07-06 .. 2036-11-22 (UTC)"
        )
    if roles is not None:
        bad = [role for role in roles if role not in ROLE_MODES]
        if bad:
            raise ConfigError(f"roles holds {bad[0]!r}; allowed: {sorted(ROLE_MODES)}")


def _steps(records: Sequence[CycleRecord]) -> list[list[CycleRecord]]:
    """Runs of records of the same (cycle, step), in order."""
    runs: list[list[CycleRecord]] = []
    for record in records:
        if runs and (runs[-1][-1].cycle, runs[-1][-1].step) == (record.cycle, record.step):
            runs[-1].append(record)
        else:
            runs.append([record])
    return runs


def _rows(records: Sequence[CycleRecord], roles: Sequence[str] | None) -> np.ndarray:
    rows = np.zeros(len(records), dtype=_ROW)
    net_before = throughput_before = 0.0  # Ah, Wh at the end of the previous step
    largest = max(abs(r.current) for r in records)
    i = 0
    for run in _steps(records):
        sign = 1.0 if math.fsum(r.current for r in run) >= 0.0 else -1.0
        idle = math.fsum(abs(r.current) for r in run) / len(run) <= IDLE_FRACTION * largest
        for position, record in enumerate(run):
            if roles is not None:
                mode = ROLE_MODES[roles[record.step - 1]]
            else:
                mode = MODES["rest"] if idle else MODES["cc"]
            flags = mode | (0x04 if record.current > 0.0 else 0) | (0x20 if position == 0 else 0)
            rows[i] = (
                flags,
                record.time,
                record.voltage,
                record.current * 1000.0,
                record.cycle - 1,
                record.step - 1,
                (net_before + sign * record.capacity) * 1000.0,
                throughput_before + abs(record.energy),
                record.temperature,
            )
            i += 1
        net_before += sign * run[-1].capacity
        throughput_before += abs(run[-1].energy)
    return rows


def write_mpr(
    path: str | Path,
    records: Sequence[CycleRecord],
    *,
    started: datetime | None = None,
    roles: Sequence[str] | None = None,
) -> Path:
    """Write `records` (one run of one channel, in time order) as an EC-Lab ``.mpr`` file.

    `started`: when the run began (default now; a naive time is taken as UTC), written as the
    settings' and the log's dates and the log's start time; `roles`: the role of template
    step 1, 2, … (``charge``, ``cv``, ``rest``, ``pulse``, ``discharge``) for the EC-Lab mode
    flag (without: rest for a step whose mean |I| is under `IDLE_FRACTION` of the largest,
    else CC).
    Raises `ConfigError` naming the field for bad input, before anything is written.
    """
    started = started or datetime.now(UTC)
    started = started.replace(tzinfo=UTC) if started.tzinfo is None else started.astimezone(UTC)
    _check(records, started, roles)
    rows = _rows(records, roles)
    day = started.date()
    columns = struct.pack(f"<IB{len(MPR_COLUMNS)}H", len(records), len(MPR_COLUMNS), *MPR_COLUMNS)
    data = columns.ljust(DATA_HEADER_BYTES, b"\x00") + rows.tobytes()
    log = bytearray(LOG_BYTES)
    struct.pack_into("<d", log, LOG_TIMESTAMP_OFFSET, (started - OLE_EPOCH) / timedelta(days=1))
    content = (
        MPR_MAGIC
        + _module("VMP Set", "VMP settings", 0, day, b"\x00" * 16)
        + _module("VMP data", "VMP data", 2, day, data)
        + _module("VMP LOG", "VMP LOG", 0, day, bytes(log))
    )
    target = Path(path)
    target.write_bytes(content)
    return target
