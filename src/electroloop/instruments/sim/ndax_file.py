"""Write cycler records as a Neware BTS ``.ndax`` file: what a Neware test leaves behind.

Neware does not publish the format; this writer follows the layout that fastnda's reader parses
(fastnda 1.3.1, Empa, MIT: ``fastnda/ndax.py``, ``fastnda/_ndc/ndc_main.py`` ``read_ndc_main_2``,
``ndc_aux.py`` ``read_ndc_aux_2``, ``ndc_utils.bytes_to_df``; github.com/EmpaEconversion/fastnda,
whose NDC version 2 reader is confirmed against real BTS files). An ``.ndax`` is a zip of:

- ``data.ndc``: NDC version 2, file type 1. Blocks of 512 bytes; block 0 is the file header
  (byte 0 the file type, byte 2 the version), every later block holds five 94-byte rows from
  byte 5 (a row with index 0 is empty). A row: 8 bytes unknown, index u4 (from 1), cycle u4
  (from 0), step id u1, step type u1 (1 CC_Chg, 2 CC_DChg, 3 CV_Chg, 4 Rest), 5 bytes, step
  time u8 ms, voltage i4 in 0.1 mV, current i4 in units of the range's multiplier, 4 bytes,
  charge and discharge capacity and energy i8 (mA·s and mW·s over the multiplier, counted from
  the step's start), the wall-clock time (year u2, month, day, hour, minute, second u1), the
  current range i4, 8 bytes.
- ``data_AUX_1_1_1.ndc``: NDC version 2, file type 5, the same rows with the temperature i2 in
  0.1 °C at byte 41 of a row, for the auxiliary channel ``TestInfo.xml`` lists (``ChlType`` 103,
  temperature, in fastnda's ``AUX_CHL_MAP``).
- ``VersionInfo.xml``, ``TestInfo.xml``, ``Step.xml``: ``<root><config>…</config></root>``
  documents (``read_ndax_metadata`` reads every ``config``): the writer, the channel
  (``DevID``-``UnitID``-``ChlID``, as aurora-neware addresses channels), the barcode, the start,
  and the step roles with a free-text remark.

The current range is the smallest of 1, 10, 100, 1000, 10000 mA above the largest current;
fastnda's ``_range_to_mult`` gives its multiplier (range 1 → 1e-4 mA, 10 → 1e-3 mA, 100 →
1e-2 mA, ≥ 1000 → 0.1 mA). Neware's current is negative on discharge, as in `CycleRecord`.
"""

from __future__ import annotations

import math
import zipfile
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.sax.saxutils import quoteattr

import numpy as np

from electroloop.errors import ConfigError
from electroloop.instruments.cycler import CycleRecord
from electroloop.instruments.sim.record_run import check_run

__all__ = ["STEP_TYPES", "write_ndax"]

BLOCK = 512
ROW_START = 5
ROWS_PER_BLOCK = 5
RANGES = ((1, 1e-4), (10, 1e-3), (100, 1e-2), (1000, 1e-1), (10000, 1e-1))
"""(current range mA, multiplier mA per count), after fastnda's ``_range_to_mult``."""
STEP_TYPES = {"charge": 1, "discharge": 2, "pulse": 2, "cv": 3, "rest": 4}
"""Role -> Neware step type (fastnda ``STEP_TYPE_MAP``: CC_Chg, CC_DChg, CV_Chg, Rest)."""
IDLE_FRACTION = 1e-3  # a step whose mean |I| is below this part of the largest is a rest
WRITER = "electroloop ndax_file (NDC version 2)"

_MAIN = np.dtype(
    [
        ("_pad1", "V8"),
        ("index", "<u4"),
        ("cycle", "<u4"),
        ("step_id", "u1"),
        ("step_type", "u1"),
        ("_pad2", "V5"),
        ("step_time_ms", "<u8"),
        ("voltage", "<i4"),
        ("current", "<i4"),
        ("_pad3", "V4"),
        ("charge_capacity", "<i8"),
        ("discharge_capacity", "<i8"),
        ("charge_energy", "<i8"),
        ("discharge_energy", "<i8"),
        ("year", "<u2"),
        ("month", "u1"),
        ("day", "u1"),
        ("hour", "u1"),
        ("minute", "u1"),
        ("second", "u1"),
        ("range", "<i4"),
        ("_pad4", "V8"),
    ]
)
_AUX = np.dtype(
    [
        ("_pad1", "V8"),
        ("index", "<u4"),
        ("_pad2", "V19"),
        ("voltage", "<i4"),
        ("_pad3", "V6"),
        ("temperature", "<i2"),
        ("setpoint", "<i2"),
        ("_pad4", "V49"),
    ]
)


def _ndc(rows: np.ndarray, file_type: int) -> bytes:
    """Rows in 512-byte blocks after a header block naming the file type and version 2."""
    header = bytearray(BLOCK)
    header[0], header[2] = file_type, 2
    blocks = [bytes(header)]
    for start in range(0, len(rows), ROWS_PER_BLOCK):
        block = bytearray(BLOCK)
        chunk = rows[start : start + ROWS_PER_BLOCK].tobytes()
        block[ROW_START : ROW_START + len(chunk)] = chunk
        blocks.append(bytes(block))
    return b"".join(blocks)


def _check(records: Sequence[CycleRecord], roles: Sequence[str] | None) -> None:
    check_run(
        records,
        roles,
        max_step=255,
        step_note=" (a Neware step id is one byte)",
        finite_temperature=True,
    )
    for record in records:
        if not -3276.8 <= record.temperature <= 3276.7 or abs(record.voltage) > 214748.0:
            raise ConfigError(
                f"record {record.index}: voltage {record.voltage} V or temperature "
                f"{record.temperature} °C; allowed: |V| <= 214748 V, |T| <= 3276 °C"
            )
    if roles is not None:
        bad = [role for role in roles if role not in STEP_TYPES]
        if bad:
            raise ConfigError(f"roles holds {bad[0]!r}; allowed: {sorted(STEP_TYPES)}")
    largest = max(abs(r.current) for r in records) * 1000.0
    if largest > RANGES[-1][0]:
        raise ConfigError(f"current {largest} mA; allowed: <= {RANGES[-1][0]} mA")


def _current_range(records: Sequence[CycleRecord]) -> tuple[int, float]:
    largest = max(abs(r.current) for r in records) * 1000.0
    return next((rng, mult) for rng, mult in RANGES if largest <= rng)


def _step_types(records: Sequence[CycleRecord], roles: Sequence[str] | None) -> list[int]:
    """Each record's step type: its step's role, or (without roles) from its run of records
    of one (cycle, step): rest if their mean |I| is under `IDLE_FRACTION` of the largest, else
    charge or discharge by the sign of their net current."""
    if roles is not None:
        return [STEP_TYPES[roles[r.step - 1]] for r in records]
    types: list[int] = []
    start = 0
    largest = max(abs(r.current) for r in records)
    for end in range(1, len(records) + 1):
        if end < len(records) and (records[end].cycle, records[end].step) == (
            records[start].cycle,
            records[start].step,
        ):
            continue
        run = records[start:end]
        net = math.fsum(r.current for r in run)
        idle = math.fsum(abs(r.current) for r in run) / len(run) <= IDLE_FRACTION * largest
        kind = "rest" if idle else "charge" if net > 0.0 else "discharge"
        types += [STEP_TYPES[kind]] * (end - start)
        start = end
    return types


def _main_rows(
    records: Sequence[CycleRecord], started: datetime, roles: Sequence[str] | None
) -> np.ndarray:
    current_range, mult = _current_range(records)
    rows = np.zeros(len(records), dtype=_MAIN)
    step_start, previous = 0.0, None
    for i, (record, step_type) in enumerate(zip(records, _step_types(records, roles), strict=True)):
        if previous is not None and (previous.cycle, previous.step) != (record.cycle, record.step):
            step_start = previous.time  # the previous step's last record opens this step
        previous = record
        charging = step_type in (STEP_TYPES["charge"], STEP_TYPES["cv"])
        discharging = step_type == STEP_TYPES["discharge"]
        # mAh -> mA·s over the multiplier; the energy likewise (mWh -> mW·s)
        capacity = round(record.capacity * 1000.0 * 3600.0 / mult)
        energy = round(abs(record.energy) * 1000.0 * 3600.0 / mult)
        wall = started + timedelta(seconds=record.time)
        rows[i]["index"] = i + 1
        rows[i]["cycle"] = record.cycle - 1
        rows[i]["step_id"] = record.step
        rows[i]["step_type"] = step_type
        rows[i]["step_time_ms"] = round((record.time - step_start) * 1000.0)
        rows[i]["voltage"] = round(record.voltage * 1e4)
        rows[i]["current"] = round(record.current * 1000.0 / mult)
        rows[i]["charge_capacity"] = capacity if charging else 0
        rows[i]["discharge_capacity"] = capacity if discharging else 0
        rows[i]["charge_energy"] = energy if charging else 0
        rows[i]["discharge_energy"] = energy if discharging else 0
        rows[i]["year"], rows[i]["month"], rows[i]["day"] = wall.year, wall.month, wall.day
        rows[i]["hour"], rows[i]["minute"], rows[i]["second"] = wall.hour, wall.minute, wall.second
        rows[i]["range"] = current_range
    return rows


def _aux_rows(records: Sequence[CycleRecord]) -> np.ndarray:
    rows = np.zeros(len(records), dtype=_AUX)
    rows["index"] = np.arange(1, len(records) + 1)
    rows["temperature"] = [round(r.temperature * 10.0) for r in records]
    return rows


def _xml(body: str) -> str:
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<root><config>{body}</config></root>\n'


def write_ndax(
    path: str | Path,
    records: Sequence[CycleRecord],
    *,
    started: datetime | None = None,
    channel: str = "1-1-1",
    barcode: str = "",
    remark: str = "",
    roles: Sequence[str] | None = None,
) -> Path:
    """Write `records` (one run of one channel, in time order) as a Neware ``.ndax`` file.

    `started`: when the run began (default now; a naive time is taken as UTC); `channel`:
    ``devid-subdevid-chlid``; `barcode` and `remark`: the cell's, as BTS stores them; `roles`:
    the role of template step 1, 2, … for the Neware step type (without: by the current's
    sign). Raises `ConfigError` naming the field for bad input, before anything is written.
    """
    started = started or datetime.now(UTC)
    started = started.replace(tzinfo=UTC) if started.tzinfo is None else started.astimezone(UTC)
    parts = channel.split("-")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise ConfigError(f"channel {channel!r}; allowed: 'devid-subdevid-chlid', e.g. '21-1-1'")
    _check(records, roles)
    dev, unit, chl = parts
    test_info = (
        f'<TestInfo DevID="{dev}" UnitID="{unit}" ChlID="{chl}" Barcode={quoteattr(barcode)} '
        f'StartTime="{started:%Y-%m-%d %H:%M:%S}">'
        '<AuxTemperature AuxID="1" ChlType="103"/></TestInfo>'
    )
    step_roles = "".join(
        f'<Step{n} Role="{role}" StepType="{STEP_TYPES[role]}"/>'
        for n, role in enumerate(roles or (), start=1)
    )
    step = f"<Head_Info><Remark Value={quoteattr(remark)}/></Head_Info><Steps>{step_roles}</Steps>"
    target = Path(path)
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("VersionInfo.xml", _xml(f'<ZwjVersion SvrVer="{WRITER}"/>'))
        zf.writestr("TestInfo.xml", _xml(test_info))
        zf.writestr("Step.xml", _xml(step))
        zf.writestr("data.ndc", _ndc(_main_rows(records, started, roles), file_type=1))
        zf.writestr("data_AUX_1_1_1.ndc", _ndc(_aux_rows(records), file_type=5))
    return target
