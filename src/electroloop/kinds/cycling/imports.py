"""Import a lab's existing cycler files into the project's records, so earlier cells count.

Readers: Neware ``.nda``/``.ndax`` through fastnda 1.3.1 (Empa, MIT; ``fastnda.read`` with
``cycle_mode="raw"``, so the cycle numbers are the file's, as the Battery Data Format asks of
converters, and ``fastnda.read_metadata``), BioLogic EC-Lab ``.mpr`` through galvani 0.5.0
(``galvani.BioLogic.MPRfile``). Both give the cycler's own numbers; this module only maps
them onto `CycleRecord` (A, V, Ah and Wh counted from the start of each step, charge current
positive, as `MultichannelCycler` records them):

- Neware: total time s, voltage V, current mA (negative on discharge), raw cycle (1-based
  after fastnda), step index, step type, step capacity and energy (mAh, mWh, signed by the
  step's direction), the first auxiliary temperature.
- BioLogic: ``time/s``, ``Ewe/V`` (or ``<Ewe>/V``, ``Ecell/V``), ``I/mA`` (or ``<I>/mA``;
  positive = oxidation at the working electrode, the cathode of a charging full cell),
  ``cycle number`` and ``Ns`` (both from 0 in EC-Lab: one is added), ``(Q-Qo)/mA.h`` (or
  ``(Q-Qo)/C``) and ``|Energy|/W.h`` as running totals from which each step's capacity and
  energy are taken as differences from the previous step's last point (integrated from I and
  V by the trapezoid rule where a file lacks them), ``Temperature/°C``, the ``mode`` flag
  (1 CC, 2 CV, 3 rest).

A file's step ids become steps 1, 2, … in sorted order, and each gets the role the cycling
summary needs (`summary.Role`): rest where the cycler says rest or hardly any current flows
(`REST_FRACTION`); cv where it says CV on charge; charge for other charging steps; pulse for a
discharge step no longer than `PULSE_MAX` s in every cycle (the DC-resistance pulse of
`spec.PULSE` = 10 s); discharge otherwise. The whole file is one phase named ``cycling``, so
`cell_metrics` gives its retention, discharge capacity and Coulombic efficiency;
`imported_observation` makes from them and the formulation a scientist states the
`Observation` a planner learns from before its first proposal (a planner's ``warm_start``
argument, or `LearnsUnplanned.tell_unplanned`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np

from electroloop.errors import ConfigError
from electroloop.instruments.cycler import CycleRecord
from electroloop.kinds.cycling.cell_metrics import cell_values
from electroloop.kinds.cycling.spec import PULSE_MAX, CyclingSpec
from electroloop.kinds.cycling.summary import CycleStats, PhaseData, summarize
from electroloop.models import Formulation, Observation

__all__ = [
    "SUFFIXES",
    "CyclerFileError",
    "ImportedCell",
    "UnreadableCyclerFile",
    "UnsupportedCyclerFile",
    "import_cycler_file",
    "imported_observation",
]

REST_FRACTION = 1e-3
"""A step whose mean |I| is at most this fraction of the file's largest |I| is a rest: a
channel at rest reads its offset current (the simulated cycler: ~0.1 µA on a 20 mA range)."""
PHASE = "cycling"
SUFFIXES = {".nda": "neware", ".ndax": "neware", ".mpr": "biologic"}
Vendor = Literal["neware", "biologic"]
Hint = Literal["cc", "cv", "rest", ""]
_NEWARE_HINTS: dict[str, Hint] = {
    "CC_Chg": "cc",
    "CC_DChg": "cc",
    "CV_Chg": "cv",
    "CV_DChg": "cv",
    "Rest": "rest",
    "OCV": "rest",
    "Pause": "rest",
}
_BIOLOGIC_MODES: dict[int, Hint] = {1: "cc", 2: "cv", 3: "rest"}


class CyclerFileError(ConfigError):
    """A cycler data file could not be imported."""


class UnsupportedCyclerFile(CyclerFileError):
    """The file's suffix names no format this module reads."""


class UnreadableCyclerFile(CyclerFileError):
    """The file has a known suffix but its reader could not make records of it."""


@dataclass(frozen=True)
class ImportedCell:
    """One cell's test from a lab's file: its records as `MultichannelCycler` would have taken
    them, the role of each step, the complete cycles' statistics (empty, with
    `summary_note` saying why, where the steps do not make the cycles the summary knows) and
    the file's own metadata (channel, barcode, start, vendor settings)."""

    source: Path
    vendor: Vendor
    records: tuple[CycleRecord, ...]
    roles: tuple[str, ...]
    step_ids: tuple[int, ...]
    """The file's step id (Neware step index, EC-Lab ``Ns`` + 1) of step 1, 2, …"""
    started: datetime | None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    summary: tuple[CycleStats, ...] = ()
    summary_note: str = ""

    def phase(self) -> PhaseData:
        """The records as one finished phase named ``cycling``."""
        return PhaseData(PHASE, self.roles, self.records, done=True)


@dataclass(frozen=True)
class _Series:
    """A file's points as arrays (one entry a point): s, V, A, cycle from 1, file step id,
    step capacity Ah and energy Wh (from the step's start), °C, vendor mode hint."""

    time: np.ndarray
    voltage: np.ndarray
    current: np.ndarray
    cycle: np.ndarray
    step: np.ndarray
    capacity: np.ndarray
    energy: np.ndarray
    temperature: np.ndarray
    hints: list[Hint]


def _runs(cycle: np.ndarray, step: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) of the runs of points of one (cycle, step)."""
    change = np.flatnonzero((np.diff(cycle) != 0) | (np.diff(step) != 0)) + 1
    edges = [0, *change.tolist(), len(cycle)]
    return list(zip(edges[:-1], edges[1:], strict=True))


def _per_step(total: np.ndarray, runs: list[tuple[int, int]]) -> np.ndarray:
    """A running total (net charge, energy throughput) as amounts since each step's start,
    the previous step's last point (0 before the first step)."""
    out = np.empty_like(total)
    base = 0.0
    for start, end in runs:
        out[start:end] = np.abs(total[start:end] - base)
        base = float(total[end - 1])
    return out


def _cumulative(values: np.ndarray, time: np.ndarray) -> np.ndarray:
    """Trapezoid running integral of `values` over `time` s, in value·h."""
    steps = np.diff(time) * (values[1:] + values[:-1]) / 2.0 / 3600.0
    return np.concatenate([[0.0], np.cumsum(steps)])


def _column(data: np.ndarray, names: Sequence[str]) -> np.ndarray | None:
    for name in names:
        if name in (data.dtype.names or ()):
            return np.array(data[name], dtype=float)  # a copy: galvani's buffer is read-only
    return None


def _read_biologic(path: Path) -> tuple[_Series, datetime | None, dict[str, Any]]:
    from galvani.BioLogic import MPRfile  # on use: galvani and fastnda load numpy/polars

    with path.open("rb") as handle:
        mpr = MPRfile(handle)
    data = mpr.data
    time = _column(data, ["time/s"])
    voltage = _column(data, ["Ewe/V", "<Ewe>/V", "Ecell/V"])
    current_ma = _column(data, ["I/mA", "<I>/mA"])
    missing = [
        name
        for name, column in (("time/s", time), ("Ewe/V", voltage), ("I/mA", current_ma))
        if column is None
    ]
    if missing or time is None or voltage is None or current_ma is None:
        raise UnreadableCyclerFile(f"{path}: no {missing} column; an .mpr import needs them")
    current = current_ma / 1000.0
    cycle_number = _column(data, ["cycle number"])
    cycle = np.ones(len(time), int) if cycle_number is None else cycle_number.astype(int) + 1
    ns = _column(data, ["Ns"])
    step = np.ones(len(time), int) if ns is None else ns.astype(int) + 1
    runs = _runs(cycle, step)
    net = _column(data, ["(Q-Qo)/mA.h"])
    coulombs = _column(data, ["(Q-Qo)/C"])
    if net is not None:
        net_ah = net / 1000.0
    elif coulombs is not None:
        net_ah = coulombs / 3600.0
    else:
        net_ah = _cumulative(current, time)
    throughput = _column(data, ["|Energy|/W.h"])
    if throughput is None:
        throughput = _cumulative(np.abs(current * voltage), time)
    temperature = _column(data, ["Temperature/°C"])
    hints: list[Hint] = [""] * len(time)
    if "mode" in mpr.flags_dict:
        hints = [_BIOLOGIC_MODES.get(int(m), "") for m in mpr.get_flag("mode")]
    started = getattr(mpr, "timestamp", None)
    series = _Series(
        time=time,
        voltage=voltage,
        current=current,
        cycle=cycle,
        step=step,
        capacity=_per_step(net_ah, runs),
        energy=_per_step(throughput, runs),
        temperature=np.full(len(time), math.nan) if temperature is None else temperature,
        hints=hints,
    )
    metadata = {
        "columns": list(data.dtype.names or ()),
        "version": mpr.version,
        # EC-Lab logs the start in its PC's local time, with no zone: read here as UTC
        "started_zone": "EC-Lab PC local time, zone not recorded; read as UTC",
    }
    return series, None if started is None else started.replace(tzinfo=UTC), metadata


def _read_neware(path: Path) -> tuple[_Series, datetime | None, dict[str, Any]]:
    import fastnda

    frame = fastnda.read(path, cycle_mode="raw")
    for name in ("total_time_s", "voltage_V", "current_mA", "cycle_count", "step_index"):
        if name not in frame.columns:
            raise UnreadableCyclerFile(f"{path}: fastnda found no {name!r} in {frame.columns}")
    temperatures = [c for c in frame.columns if c.endswith("temperature_degC")]
    n = len(frame)
    capacity = frame["capacity_mAh"].to_numpy() if "capacity_mAh" in frame.columns else None
    energy = frame["energy_mWh"].to_numpy() if "energy_mWh" in frame.columns else None
    time = frame["total_time_s"].to_numpy().astype(float)
    voltage = frame["voltage_V"].to_numpy().astype(float)
    current = frame["current_mA"].to_numpy().astype(float) / 1000.0
    cycle = frame["cycle_count"].to_numpy().astype(int)
    step = frame["step_index"].to_numpy().astype(int)
    runs = _runs(cycle, step)
    types = frame["step_type"].cast(str).to_list() if "step_type" in frame.columns else [""] * n
    series = _Series(
        time=time,
        voltage=voltage,
        current=current,
        cycle=cycle,
        step=step,
        capacity=(
            np.abs(capacity.astype(float)) / 1000.0
            if capacity is not None
            else _per_step(_cumulative(current, time), runs)
        ),
        energy=(
            np.abs(energy.astype(float)) / 1000.0
            if energy is not None
            else _per_step(_cumulative(np.abs(current * voltage), time), runs)
        ),
        temperature=(
            frame[temperatures[0]].to_numpy().astype(float)
            if temperatures
            else np.full(n, math.nan)
        ),
        hints=[_NEWARE_HINTS.get(str(t), "") for t in types],
    )
    started = None
    if "unix_time_s" in frame.columns and n:
        started = datetime.fromtimestamp(float(frame["unix_time_s"][0]), UTC)
    try:
        metadata: dict[str, Any] = dict(fastnda.read_metadata(path))
    except Exception as exc:  # the data read; a vendor header it cannot parse is only noted
        metadata = {"metadata_error": f"{type(exc).__name__}: {exc}"}
    return series, started, metadata


def _roles(series: _Series, ids: list[int]) -> list[str]:
    """The role of each file step id (see the module docstring)."""
    runs = _runs(series.cycle, series.step)
    scale = float(np.max(np.abs(series.current)))
    roles = []
    for step_id in ids:
        mine = [(s, e) for s, e in runs if series.step[s] == step_id]
        points = np.concatenate([np.arange(s, e) for s, e in mine])
        hints = {series.hints[i] for i in points}
        net = float(np.sum(series.current[points]))
        idle = float(np.mean(np.abs(series.current[points]))) <= REST_FRACTION * scale
        longest = max(
            float(series.time[e - 1] - (series.time[s - 1] if s > 0 else series.time[s]))
            for s, e in mine
        )
        if ("rest" in hints and "cc" not in hints and "cv" not in hints) or idle:
            roles.append("rest")
        elif net > 0:
            roles.append("cv" if hints == {"cv"} else "charge")
        else:
            roles.append("pulse" if longest <= PULSE_MAX else "discharge")
    return roles


def _records(series: _Series, ids: list[int]) -> tuple[CycleRecord, ...]:
    number = {step_id: n for n, step_id in enumerate(ids, start=1)}
    return tuple(
        CycleRecord(
            index=i,
            time=float(series.time[i]),
            cycle=int(series.cycle[i]),
            step=number[int(series.step[i])],
            current=float(series.current[i]),
            voltage=float(series.voltage[i]),
            capacity=float(series.capacity[i]),
            energy=float(series.energy[i]),
            temperature=float(series.temperature[i]),
        )
        for i in range(len(series.time))
    )


def import_cycler_file(path: str | Path, *, temperature: float | None = None) -> ImportedCell:
    """The records of a Neware ``.nda``/``.ndax`` or BioLogic ``.mpr`` file.

    `temperature` °C: what a scientist states the cell's temperature was, for the points the
    file has none for (nan otherwise; `CellRecordStore` refuses nan, so state it to store
    the records); ``metadata["temperature"]`` says which. Raises `UnsupportedCyclerFile` for
    another suffix and `UnreadableCyclerFile` (naming the file and the reader's complaint)
    for a file its reader cannot make records of, `CyclerFileError` for a bad `temperature`.
    """
    if temperature is not None and not -60.0 <= temperature <= 150.0:
        raise CyclerFileError(f"temperature {temperature} °C; allowed: -60..150 °C")
    source = Path(path)
    vendor = SUFFIXES.get(source.suffix.lower())
    if vendor is None:
        raise UnsupportedCyclerFile(
            f"{source}: suffix {source.suffix!r}; allowed: {sorted(SUFFIXES)}"
        )
    if not source.is_file():
        raise UnreadableCyclerFile(f"{source}: no such file")
    reader = _read_neware if vendor == "neware" else _read_biologic
    try:
        series, started, metadata = reader(source)
    except CyclerFileError:
        raise
    except Exception as exc:  # each reader fails its own way on a damaged file
        raise UnreadableCyclerFile(
            f"{source}: not a readable {vendor} {source.suffix} file ({type(exc).__name__}: {exc})"
        ) from exc
    if len(series.time) == 0:
        raise UnreadableCyclerFile(f"{source}: the file holds no data points")
    if np.any(series.cycle < 1):
        raise UnreadableCyclerFile(f"{source}: a cycle number below 1 after import")
    missing = np.isnan(series.temperature)
    metadata["temperature"] = "from the file" if not missing.any() else "missing in the file"
    if missing.any() and temperature is not None:
        series.temperature[missing] = temperature
        metadata["temperature"] = f"stated: {temperature} °C where the file has none"
    ids = sorted({int(s) for s in series.step})
    roles = _roles(series, ids)
    records = _records(series, ids)
    cell = ImportedCell(source, vendor, records, tuple(roles), tuple(ids), started, metadata)
    try:
        stats = tuple(summarize([cell.phase()]))
    except ValueError as exc:
        return _with_summary(cell, (), f"no cycle summary: {exc}")
    note = "" if stats else "no complete cycle (a charge and a discharge step) in the file"
    return _with_summary(cell, stats, note)


def _with_summary(cell: ImportedCell, stats: tuple[CycleStats, ...], note: str) -> ImportedCell:
    return replace(cell, summary=stats, summary_note=note)


def imported_observation(
    cell: ImportedCell,
    formulation: Formulation,
    spec: CyclingSpec,
    *,
    candidate_id: str,
    extra_values: Mapping[str, float] | None = None,
) -> Observation:
    """What a planner learns from an imported cell: the `formulation` a scientist states for
    it and the cell metrics of its cycles (`cell_metrics.cell_values`, the file taken as the
    finished ``cycling`` phase of a test to `spec.cycles` cycles), plus `extra_values` the
    file cannot hold (e.g. the electrolyte's measured conductivity).

    Pass the result to a planner's ``warm_start`` or to `LearnsUnplanned.tell_unplanned`.
    Raises `CyclerFileError` when the file gives no metric.
    """
    values = {name: e.mean for name, e in cell_values(cell.summary, spec, final=True).items()}
    if not values:
        raise CyclerFileError(
            f"{cell.source}: no cell metric from its cycles ({cell.summary_note or 'none'}); "
            "allowed: a file with at least one complete charge/discharge cycle"
        )
    values.update(extra_values or {})
    return Observation(candidate_id=candidate_id, design=formulation, values=values)
