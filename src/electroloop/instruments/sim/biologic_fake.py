"""A fake of aurora-biologic's Python API (`BiologicAPI`), for running without EC-Lab.

EC-Lab is Windows software reached over OLE/COM only, so no protocol-true simulator can sit
below the driver on Linux; `FakeBiologicAPI` stands at the seam above it instead, answering
aurora-biologic 0.2.6's public methods (``get_pipelines``, ``get_status``, ``load_settings``,
``run_channel``, ``start``, ``stop``, ``get_experiment_info``, ``get_job_id``) with what they
return for a real EC-Lab: pipeline dicts keyed ``<device>-<channel>``; the readable form of
``MeasureStatus``'s 32-field tuple (field names and codes of aurora_biologic/dicts.py; the
package's own tests' ``FakeECLab`` shows real values); ``RuntimeError`` where EC-Lab refuses
(``LoadSettings``/``RunChannel`` not returning 1), ``ValueError`` for an unknown pipeline or a
directory as the output path, ``FileNotFoundError`` for missing settings.

Settings: it parses the ``.mps`` that aurora-unicycler 0.4.6's ``to_biologic_mps`` writes (one
Modulo Bat technique: a header with the ``Safety Limits`` block, then one 20-character column
per sequence, rows ``ctrl_type``, ``ctrl1_val``/``_unit``, ``lim<n>_type``/``_comp``/``_value``/
``_unit``, ``rec<n>_…``, ``ctrl_seq``/``ctrl_repeat`` of a ``Loop``, ``I Range``) into the steps
of the SCPI cycler simulator's engine (`sim.cycler._Channel` on an `EquivalentCircuitCell`), so
the physics and the noise are the project's. It runs Rest, CC (until Ewe, optionally a time),
CV (until |I| <, optionally a time) and one Loop; any other sequence (PEIS, GEIS, a voltage
scan…) makes ``load_settings`` raise, as a settings file the fake cannot run.

Data: EC-Lab writes a run's data only as an ``.mpr`` file, at the output path ``run_channel``
names; the fake writes it with `sim.mpr_file.write_mpr` after every call that saw new records
(written to a temporary name, then renamed, so a reader never sees half a file). EC-Lab writes
as it measures; the fake integrates its channels up to its clock's present only when one of
its methods is called, so a file holds what was run by the last call (the driver's status read
before it fetches, as the cycling loop polls).

The fake lives in the process that made it: unlike the SCPI simulator's own process, its
running cells end with that process.

Safety: a trip stops the channel (``Status`` Stop) with the ``Safety limit`` field 1 (Emax),
2 (Emin) or 3 (I); a temperature trip, which the dict has no name for, reports 5.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from electroloop.errors import SimulationError
from electroloop.instruments.cycler import CycleRecord
from electroloop.instruments.sim.cycler import MAX_CYCLES, MAX_VOLTAGE, _Channel, _Step
from electroloop.instruments.sim.mpr_file import write_mpr
from electroloop.protocols import Clock
from electroloop.simulations.cell_circuit import CellSpec, EquivalentCircuitCell

__all__ = ["FakeBiologicAPI", "SettingsFileError", "parse_settings"]

STATUS_FIELDS = (
    "Status",
    "Ox/Red",
    "OCV",
    "EIS",
    "Technique number",
    "Technique code",
    "Sequence number",
    "Current loop iteration number",
    "Current sequence within loop number",
    "Loop experiment iteration number",
    "Cycle number",
    "Counter 1",
    "Counter 2",
    "Counter 3",
    "Buffer size",
    "Time (s)",
    "Ewe (V)",
    "Ece (V)",
    "Eoc (V)",
    "I (A)",
    "Q-Q0 (Ah)",
    "Aux1",
    "Aux2",
    "Irange (A)",
    "R compensation (Ohm)",
    "Frequency (Hz)",
    "|Z| (Ohm)",
    "Current point index",
    "Total point index",
    "T (°C)",
    "Safety limit",
    "Connection",
)
"""``MeasureStatus`` fields in order (aurora_biologic/dicts.py ``status_codes``)."""
STATUS_NAMES: dict[int, dict[int, str]] = {
    0: {0: "Stop", 1: "Run", 2: "Pause", 3: "Sync", 4: "Stop_rec1", 5: "Stop_rec2", 6: "Pause_rec"},
    1: {0: "Oxidation", 1: "Reduction"},
    2: {0: "OCV", 1: "Other"},
    3: {0: "EIS", 1: "No EIS"},
    5: {127: "MB"},  # Modulo Bat, the technique to_biologic_mps writes
    30: {0: "Ok", 1: "Emax", 2: "Emin", 3: "I", 4: "Q-Q0"},
    31: {0: "Ok", 1: "Disconnected"},
}
"""The codes of aurora_biologic/dicts.py ``status_nested_codes`` this fake reports."""
MODULO_BAT = 127
SAFETY_CODES = {"VOLT_HIGH": 1, "VOLT_LOW": 2, "CURR_HIGH": 3, "TEMP_HIGH": 5}
UNITS = {
    "A": 1.0,
    "mA": 1e-3,
    "uA": 1e-6,
    "µA": 1e-6,
    "nA": 1e-9,
    "V": 1.0,
    "mV": 1e-3,
    "s": 1.0,
    "mn": 60.0,
    "h": 3600.0,
    "d": 86400.0,
}
"""EC-Lab's units in a settings file -> A, V or s."""
I_RANGES = {"10 µA": 1e-5, "100 µA": 1e-4, "1 mA": 1e-3, "10 mA": 1e-2, "100 mA": 0.1, "1 A": 1.0}
"""aurora-unicycler's ``I_RANGES_mA`` names -> the range's full scale, A."""
COLUMN = 20  # characters per column of a settings file's technique table


class SettingsFileError(SimulationError):
    """A settings file the fake cannot run (what EC-Lab's ``LoadSettings`` would refuse)."""


@dataclass(frozen=True)
class Settings:
    """A parsed ``.mps``: engine steps, safety limits (vmin, vmax, imax) and record interval."""

    steps: list[_Step]
    limits: dict[str, float]
    interval: float


def _quantity(value: str, unit: str, where: str) -> float:
    if unit not in UNITS:
        raise SettingsFileError(f"{where}: unit {unit!r}; allowed: {sorted(UNITS)}")
    try:
        number = float(value) * UNITS[unit]
    except ValueError:
        raise SettingsFileError(f"{where}: {value!r} is not a number") from None
    if not math.isfinite(number):
        raise SettingsFileError(f"{where}: {value!r} is not finite")
    return number


def _safety(lines: list[str]) -> dict[str, float]:
    limits: dict[str, float] = {}
    names = {"Ewe min": "vmin", "Ewe max": "vmax", "|I|": "imax"}
    for line in lines:
        name, _, rest = line.strip().partition(" = ")
        if name in names:
            value, _, unit = rest.strip().partition(" ")
            limits[names[name]] = _quantity(value, unit.strip(), f"safety {name}")
    return limits


def _table(lines: list[str]) -> tuple[dict[str, list[str]], int]:
    """The technique table: row name -> one value per sequence."""
    rows: dict[str, list[str]] = {}
    for line in lines:
        if not line.strip():
            continue
        key = line[:COLUMN].strip()
        body = line[COLUMN:]
        count = max(1, math.ceil(len(body.rstrip()) / COLUMN))
        rows[key] = [body[i * COLUMN : (i + 1) * COLUMN].strip() for i in range(count)]
    sequences = len(rows.get("Ns", []))
    if sequences == 0:
        raise SettingsFileError("no Ns row: not a Modulo Bat technique table")
    for key in rows:
        rows[key] += [""] * (sequences - len(rows[key]))
    return rows, sequences


def _limits(rows: dict[str, list[str]], column: int, where: str) -> dict[str, tuple[str, float]]:
    """A sequence's limits: type -> (comparison, value in A, V or s)."""
    found: dict[str, tuple[str, float]] = {}
    count = int(rows.get("lim_nb", ["0"] * (column + 1))[column] or 0)
    for n in range(1, count + 1):
        kind = rows[f"lim{n}_type"][column]
        value = _quantity(rows[f"lim{n}_value"][column], rows[f"lim{n}_value_unit"][column], where)
        found[kind] = (rows[f"lim{n}_comp"][column], value)
    return found


def _sequence(rows: dict[str, list[str]], column: int, max_current: float) -> _Step:
    where = f"sequence {column} ({rows['ctrl_type'][column]})"
    kind = rows["ctrl_type"][column]
    limits = _limits(rows, column, where)
    tmax = limits["Time"][1] if "Time" in limits else None
    if tmax is not None and tmax <= 0:
        raise SettingsFileError(f"{where}: time limit {tmax} s; allowed: > 0")
    if kind == "Rest":
        if tmax is None:
            raise SettingsFileError(f"{where}: a rest needs a time limit")
        return _Step("REST", tmax)
    if kind == "Loop":
        target, repeat = int(rows["ctrl_seq"][column]), int(rows["ctrl_repeat"][column])
        if not (0 <= target < column and 0 <= repeat < MAX_CYCLES):
            raise SettingsFileError(f"{where}: goto {target}, repeat {repeat} out of range")
        return _Step("LOOP", target + 1, repeat + 1)
    if kind not in ("CC", "CV"):
        raise SettingsFileError(f"{where}: the fake runs Rest, CC, CV and Loop sequences only")
    value = _quantity(rows["ctrl1_val"][column], rows["ctrl1_val_unit"][column], where)
    scale = I_RANGES.get(rows.get("I Range", [""] * (column + 1))[column], max_current)
    if kind == "CC":
        if "Ewe" not in limits:
            raise SettingsFileError(f"{where}: a CC sequence needs an Ewe limit")
        if not 0 < abs(value) <= min(scale, max_current):
            raise SettingsFileError(
                f"{where}: {value} A; allowed 0 < |I| <= {min(scale, max_current)} A (I range)"
            )
        return _Step("CC", value, limits["Ewe"][1], tmax)
    if "|I|" not in limits:
        raise SettingsFileError(f"{where}: a CV sequence needs an |I| limit")
    cutoff = limits["|I|"][1]
    if not (0.0 <= value <= MAX_VOLTAGE and 0 < cutoff <= max_current):
        raise SettingsFileError(f"{where}: {value} V until {cutoff} A outside the channel's range")
    return _Step("CV", value, cutoff, tmax)


def parse_settings(text: str, max_current: float) -> Settings:
    """An aurora-unicycler ``.mps`` as engine steps; `SettingsFileError` names what it cannot
    run."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != "EC-LAB SETTING FILE":
        raise SettingsFileError("not an EC-Lab settings file (first line)")
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == "Modulo Bat")
    except StopIteration:
        raise SettingsFileError("no Modulo Bat technique; the fake runs only that one") from None
    if sum(line.startswith("Technique :") for line in lines) != 1:
        raise SettingsFileError("linked techniques: the fake runs one Modulo Bat technique")
    limits = _safety(lines[:start])
    if limits.get("imax", max_current) > max_current:
        raise SettingsFileError(
            f"safety |I| = {limits['imax']} A beyond the channel's {max_current} A range"
        )
    rows, sequences = _table(lines[start + 1 :])
    steps = [_sequence(rows, column, max_current) for column in range(sequences)]
    if sum(step.kind == "LOOP" for step in steps) > 1:
        raise SettingsFileError("more than one Loop sequence")
    intervals = [
        _quantity(rows[f"rec{n}_value"][c], rows[f"rec{n}_value_unit"][c], f"sequence {c} rec")
        for c in range(sequences)
        for n in (1, 2, 3)
        if rows.get(f"rec{n}_type", [""] * sequences)[c] == "Time"
    ]
    interval = min(intervals, default=30.0)
    if not 1.0 <= interval <= 3600.0:
        raise SettingsFileError(f"record every {interval} s; allowed 1..3600 s")
    return Settings(steps, limits, interval)


@dataclass
class _Pipeline:
    """One channel: the shared engine, the loaded settings and the running file."""

    engine: _Channel
    settings: Settings | None = None
    output: Path | None = None
    started: datetime | None = None
    ended: datetime | None = None
    written: int = 0
    info: dict[str, Any] = field(default_factory=dict)


class FakeBiologicAPI:
    """A FAKE of aurora-biologic's `BiologicAPI` (its Python API, not EC-Lab nor its COM
    object), with `channels` pipelines ``<device>-1``… of one online device, each running the
    SCPI cycler simulator's engine on an `EquivalentCircuitCell`. `fill(n, spec)` clips a
    freshly filled cell onto channel n (a technician; not part of the real API)."""

    def __init__(
        self,
        channels: int = 8,
        *,
        clock: Clock,
        cells: Mapping[int, CellSpec] | None = None,
        device: str = "MPG2-1",
        serial: int = 12345,
        max_current: float = 0.1,
        max_step: float = 60.0,
        seed: int = 0,
    ) -> None:
        if not 1 <= channels <= 64:
            raise SimulationError(f"{channels} channels; allowed: 1..64")
        self.clock = clock
        self.max_current = max_current  # the engine reads these two
        self.max_step = max_step
        self.drift, self.stuck_busy = 0.0, False
        self._seed = seed
        self._lock = threading.RLock()
        now = clock.now()
        cells = cells or {}
        self.pipelines: dict[str, dict[str, Any]] = {}
        self._channels: dict[str, _Pipeline] = {}
        for n in range(1, channels + 1):
            pipeline = f"{device}-{n}"
            self.pipelines[pipeline] = {
                "device_name": device,
                "device_index": 0,
                "device_serial_number": serial,
                "channel_index": n - 1,
                "channel_serial_number": serial * 100 + n,
                "is_online": True,
            }
            engine = _Channel(
                EquivalentCircuitCell(cells.get(n, CellSpec()), seed=seed * 1000 + n),
                now,
                np.random.default_rng([seed, n]),
                self,  # type: ignore[arg-type]  # the engine reads max_current and max_step
            )
            self._channels[pipeline] = _Pipeline(engine)

    # -- simulator only ------------------------------------------------------------------

    def pipeline_id(self, channel: int) -> str:
        """The pipeline of channel `channel` (1-based)."""
        names = list(self.pipelines)
        if not 1 <= channel <= len(names):
            raise SimulationError(f"channel {channel}; allowed: 1..{len(names)}")
        return names[channel - 1]

    def fill(self, channel: int, spec: CellSpec) -> None:
        """Connect a freshly filled cell to `channel` (not while it runs)."""
        with self._lock:
            self._advance()
            pipe = self._channels[self.pipeline_id(channel)]
            if pipe.engine.state == "RUNNING":
                raise SimulationError(f"channel {channel} is running; stop it before refilling")
            pipe.engine.cell = EquivalentCircuitCell(spec, seed=self._seed * 1000 + channel)

    def cell(self, channel: int) -> EquivalentCircuitCell:
        """The cell on `channel`, integrated up to now."""
        with self._lock:
            self._advance()
            return self._channels[self.pipeline_id(channel)].engine.cell

    # -- aurora_biologic.BiologicAPI -------------------------------------------------------

    def get_pipelines(self, *, show_offline: bool = False) -> dict[str, dict[str, Any]]:
        """Pipeline id -> device and channel indices and serial numbers (all online)."""
        return {name: dict(info) for name, info in self.pipelines.items()}

    def get_status(
        self, pipeline_ids: str | list[str] | None = None, *, show_offline: bool = False
    ) -> dict[str, dict[str, Any]]:
        """Readable ``MeasureStatus`` of the named (default: every) pipeline; unknown ids are
        left out, as the real API does."""
        with self._lock:
            self._advance()
            if not pipeline_ids:
                wanted = list(self.pipelines)
            else:
                wanted = [pipeline_ids] if isinstance(pipeline_ids, str) else list(pipeline_ids)
            return {
                pid: _readable(self._status_tuple(self._channels[pid]))
                for pid in wanted
                if pid in self._channels
            }

    def load_settings(self, pipeline: str, settings_file: str | Path) -> None:
        """Load a settings file; RuntimeError where EC-Lab would refuse it."""
        path = Path(settings_file).resolve()
        if not path.exists():
            raise FileNotFoundError(path)
        with self._lock:
            self._advance()
            pipe = self._pipeline(pipeline)
            if pipe.engine.state == "RUNNING":
                raise RuntimeError(f"{pipeline} is running: EC-Lab's LoadSettings refused")
            try:
                settings = parse_settings(path.read_text(encoding="cp1252"), self.max_current)
            except SettingsFileError as exc:
                raise RuntimeError(f"LoadSettings refused {path.name}: {exc}") from exc
            pipe.settings = settings

    def run_channel(self, pipeline: str, output_path: str | Path) -> None:
        """Start the loaded settings, writing data to `output_path` (an ``.mpr``)."""
        output = Path(output_path).resolve()
        if output.is_dir():
            raise ValueError("Must provide a full file path, not directory.")
        output.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            self._advance()
            pipe = self._pipeline(pipeline)
            engine = pipe.engine
            if pipe.settings is None or engine.state == "RUNNING":
                raise RuntimeError(
                    f"{pipeline}: EC-Lab's RunChannel refused (nothing loaded or running)"
                )
            engine.reset()
            engine.steps = list(pipe.settings.steps)
            engine.limits.update(pipe.settings.limits)
            engine.interval = pipe.settings.interval
            pipe.output, pipe.written = output, 0
            pipe.started, pipe.ended = datetime.now(UTC), None
            engine.start()
            self._flush()

    def start(self, pipeline: str, input_file: str | Path, output_file: str | Path) -> None:
        """Load and start a protocol on a pipeline."""
        self.load_settings(pipeline, input_file)
        self.run_channel(pipeline, output_file)

    def stop(self, pipeline: str) -> None:
        """Stop the run on a pipeline (nothing happens when none runs)."""
        with self._lock:
            self._advance()
            self._pipeline(pipeline).engine.stop()
            self._flush()

    def get_experiment_info(
        self, pipeline: str
    ) -> tuple[str, str | None, str, tuple[str | None, ...]]:
        """(start, end or None while running, folder, 20 file names) of the latest run."""
        with self._lock:
            self._advance()
            pipe = self._pipeline(pipeline)
            if pipe.output is None or pipe.started is None:
                raise RuntimeError(f"{pipeline}: no experiment (GetExperimentInfos failed)")
            end = None if pipe.ended is None else _stamp(pipe.ended)
            files = (pipe.output.name, *[None] * 19)
            return _stamp(pipe.started), end, str(pipe.output.parent) + os.sep, files

    def get_job_id(
        self, pipeline_ids: str | list[str] | None, *, show_offline: bool = False
    ) -> dict[str, str | None]:
        """Pipeline -> the running job's folder name (None when none runs)."""
        status = self.get_status(pipeline_ids)
        jobs: dict[str, str | None] = {}
        for pid, info in status.items():
            if info["Status"] in ("Run", "Pause", "Sync", "Pause_rec"):
                jobs[pid] = Path(self.get_experiment_info(pid)[2]).name
            else:
                jobs[pid] = None
        return jobs

    # -- internals -----------------------------------------------------------------------

    def _pipeline(self, pipeline: str) -> _Pipeline:
        pipe = self._channels.get(pipeline)
        if pipe is None:
            raise ValueError(
                f"'{pipeline}' not known as a pipeline. Try 'biologic pipelines' to see available."
            )
        return pipe

    def _advance(self) -> None:
        now = self.clock.now()
        for pipe in self._channels.values():
            pipe.engine.advance(now, self.drift, self.stuck_busy)
            if pipe.started is not None and pipe.ended is None and pipe.engine.state != "RUNNING":
                pipe.ended = datetime.now(UTC)
        self._flush()

    def _flush(self) -> None:
        """Write every run's ``.mpr`` that has records it does not hold yet."""
        for pipe in self._channels.values():
            records = pipe.engine.records
            if pipe.output is None or pipe.started is None or len(records) == pipe.written:
                continue
            temporary = pipe.output.with_name(pipe.output.name + ".part")
            write_mpr(
                temporary,
                [CycleRecord(*record) for record in records],
                started=pipe.started,
                roles=_roles(pipe.engine.steps),
            )
            os.replace(temporary, pipe.output)
            pipe.written = len(records)

    def _status_tuple(self, pipe: _Pipeline) -> tuple[float, ...]:
        engine = pipe.engine
        if engine.records:
            _, _, _, _, current, voltage, *_ = engine.records[-1]
        else:
            current, voltage = 0.0, engine.cell.terminal_voltage(0.0)
        running = engine.state == "RUNNING"
        if not running:
            current = 0.0
        safety = 0
        if engine.state == "FAULT":
            safety = SAFETY_CODES.get(engine.reason.split(":", 1)[0], 5)
        step = self._current_step(engine)
        values = [0.0] * len(STATUS_FIELDS)
        values[0] = 1.0 if running else 0.0
        values[1] = 1.0 if current < 0 else 0.0  # a discharge reduces at the working electrode
        values[2] = 0.0 if step is None or step.kind == "REST" or not running else 1.0
        values[3] = 1.0  # no EIS
        values[4] = 1.0 if pipe.settings is not None else 0.0
        values[5] = float(MODULO_BAT) if pipe.settings is not None else 0.0
        values[6] = values[8] = float(max(engine.step_number - 1, 0))
        values[7] = values[10] = float(max(engine.cycle - 1, 0))
        values[15] = engine.run_time
        values[16] = values[18] = voltage
        values[19] = current
        values[23] = self.max_current
        values[26] = -1.0  # |Z| unset
        values[27] = values[28] = float(len(engine.records))
        values[29] = engine.cell.spec.temperature
        values[30] = float(safety)
        return tuple(values)

    @staticmethod
    def _current_step(engine: _Channel) -> _Step | None:
        number = engine.step_number
        return engine.steps[number - 1] if 1 <= number <= len(engine.steps) else None


def _readable(status: tuple[float, ...]) -> dict[str, Any]:
    """aurora-biologic's ``_human_readable_status``: coded fields by name, others as numbers."""
    return {
        name: STATUS_NAMES[i].get(int(value), value) if i in STATUS_NAMES else value
        for i, (name, value) in enumerate(zip(STATUS_FIELDS, status, strict=True))
    }


def _roles(steps: list[_Step]) -> list[str]:
    """The mode each step's records carry in the ``.mpr`` (`write_mpr`'s roles)."""
    roles = []
    for step in steps:
        if step.kind == "CC":
            roles.append("charge" if step.a > 0 else "discharge")
        elif step.kind == "CV":
            roles.append("cv")
        else:
            roles.append("rest")
    return roles


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
