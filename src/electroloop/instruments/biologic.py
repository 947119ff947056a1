"""BioLogic potentiostats/cyclers through EC-Lab, driven by aurora-biologic's Python API.

EC-Lab (≥ 11.52, Windows) exposes its channels over OLE/COM only; aurora-biologic 0.2.6 (MIT,
Empa; github.com/EmpaEconversion/aurora-biologic) wraps that in `BiologicAPI`:
``get_pipelines``, ``get_status`` (``MeasureStatus`` made readable), ``load_settings`` (an
``.mps`` settings file), ``run_channel`` (the output ``.mpr`` path), ``stop`` and
``get_experiment_info``. A pipeline is ``<device name>-<channel>`` (``MPG2-1-7``); this driver's
channels 1..N are the online pipelines in the order EC-Lab lists them.

`BiologicCycler` offers the interface the cycling loop uses of `MultichannelCycler`. It takes the
API object as a constructor argument (`BiologicApi`): `connect_biologic` builds the real one on
the lab's Windows PC; on Linux, `instruments.sim.biologic_fake.FakeBiologicAPI` (a fake at the
package's Python API, not EC-Lab) stands in for dry runs and tests.

Files. EC-Lab reads its settings from, and writes its data to, files on the PC it runs on, so
`folder` is a folder on that PC. Every load makes a run folder
``<folder>/<pipeline>/run-<k>/`` with ``settings.mps`` (written by
`protocol_export.biologic_mps`, aurora-unicycler's Modulo Bat export); START asks EC-Lab for
``data.mpr`` there. EC-Lab writes data only as ``.mpr`` (it may add a technique or channel
suffix to the name it is given), so every ``.mpr`` in a run folder is that run's data, read with
galvani 0.5.0 (``galvani.BioLogic.MPRfile``). The folders are the driver's whole state: a
restarted orchestrator finds the same runs, records and indices.

Records: a channel's records are its runs' rows in run order, numbered from 0, so `fetch` is
exact and idempotent, as `MultichannelCycler.fetch`. Columns (EC-Lab's names, as galvani reads
them): ``time/s`` (from the run's start), ``Ewe/V``, ``I/mA`` (or ``<I>/mA``; positive charges
the cell), ``Ns`` (the sequence, from 0: step = Ns + 1), ``(Q-Qo)/mA.h`` and ``|Energy|/W.h``
(running totals: a step's capacity and energy are differences from the previous step's last
row), ``Temperature/°C`` (nan without it). The cycle is counted from ``Ns``: it goes up by one
each time the sequence jumps back (the protocols here loop back to their first step), because
EC-Lab's own ``cycle number`` follows the charge/discharge alternation of the settings file,
not the loop.

Status (``MeasureStatus``, field names of aurora_biologic/dicts.py): ``Run``, ``Pause``,
``Sync`` and ``Pause_rec`` are RUNNING (what aurora-biologic's ``get_job_id`` counts as a job in
progress); a stopped channel is FAULT when its ``Safety limit`` field is not ``Ok``, IDLE before
its latest protocol has data or after this driver stopped it, else DONE. A stop made in EC-Lab's
own window therefore reads as DONE (EC-Lab's status does not tell the two apart).
Step = ``Sequence number`` + 1, cycle = ``Current loop iteration number`` + 1 (assumption: the
loop counter counts the jumps back), time = ``Time (s)``.

START is not repeated: its effect is confirmed with the status (and new data), as
`MultichannelCycler.start` does. EC-Lab may take longer than the `START_CHECKS` s of that
confirmation to show ``Run`` or write the ``.mpr``, so a START that was not confirmed may still
run: `start` writes ``start-sent`` into the run folder before it asks EC-Lab, and
``start-confirmed`` once the status confirms it. A run folder with ``start-sent``, neither
``start-confirmed`` nor data, and a channel not running is refused (`StartUnconfirmed`, nothing
sent; `load` too) until a person has looked at the channel in EC-Lab's window (see
`StartUnconfirmed`).
"""

from __future__ import annotations

import math
import shutil
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np

from electroloop.clocks import WallClock
from electroloop.errors import (
    ConfigError,
    DeviceFault,
    InstrumentError,
    InstrumentTimeout,
    LimitViolation,
)
from electroloop.instruments.cycler import (
    MAX_RECORDS_PER_QUERY,
    ChannelLimits,
    ChannelState,
    ChannelStatus,
    CycleRecord,
    CyclingProtocol,
    check_limits,
    fetch_every,
)
from electroloop.instruments.protocol_export import biologic_mps
from electroloop.protocols import Clock

__all__ = [
    "FAKE_NAME",
    "BiologicApi",
    "BiologicCycler",
    "ChannelBusy",
    "StartUnconfirmed",
    "connect_biologic",
    "eclab_identity",
    "read_mpr_records",
]

FAKE_NAME = "electroloop.instruments.sim.biologic_fake.FakeBiologicAPI"
"""What runs in EC-Lab's place off Windows (address 'sim' in a lab file)."""
SETTINGS_NAME = "settings.mps"
DATA_NAME = "data.mpr"
RUNNING = frozenset({"Run", "Pause", "Sync", "Pause_rec"})
START_CHECKS = 3  # status reads (1 s apart) that may confirm a START
_INSTRUMENT = "BioLogic EC-Lab"


class BiologicApi(Protocol):
    """What this driver uses of aurora_biologic's `BiologicAPI` (0.2.6)."""

    def get_pipelines(self, *, show_offline: bool = False) -> dict[str, dict[str, Any]]: ...

    def get_status(
        self, pipeline_ids: str | list[str] | None = None, *, show_offline: bool = False
    ) -> dict[str, dict[str, Any]]: ...

    def load_settings(self, pipeline: str, settings_file: str | Path) -> None: ...

    def run_channel(self, pipeline: str, output_path: str | Path) -> None: ...

    def stop(self, pipeline: str) -> None: ...


class ChannelBusy(InstrumentError):
    """The channel runs a protocol: loading or starting another is refused, nothing sent."""


class StartUnconfirmed(InstrumentTimeout):
    """A START was sent to this run folder and neither confirmed nor seen to fail: it may yet
    run, so nothing is sent (START or settings) until a person has checked the channel.

    What to check, in EC-Lab's window on its PC: if the channel runs or ran the experiment
    (its data file appears in the run folder), nothing is to be done: the next status or poll
    reads it. If it shows no experiment, delete the ``start-sent`` file named in the message;
    the next `start` (a cycling campaign's next poll) sends START once more.
    """

    def __init__(self, channel: int, pipeline: str, marker: Path) -> None:
        super().__init__(
            f"{_INSTRUMENT} channel {channel} ({pipeline}): a START sent earlier was never "
            f"confirmed and may still run; nothing sent. Check the channel in EC-Lab: if it "
            f"shows no experiment, delete {marker} to allow a new START"
        )
        self.channel = channel
        self.pipeline = pipeline
        self.marker = marker


def connect_biologic() -> BiologicApi:
    """aurora-biologic's `BiologicAPI` on this PC (it opens EC-Lab if needed): Windows only."""
    if sys.platform != "win32":
        raise ConfigError(
            f"cycler.driver 'biologic-eclab' with a real address needs EC-Lab, which runs on "
            f"Windows only (this is {sys.platform}); allowed here: address 'sim', which runs "
            f"{FAKE_NAME} (a fake at aurora-biologic's Python API) for dry runs"
        )
    try:
        from aurora_biologic import BiologicAPI  # imports comtypes: Windows only
    except ImportError as exc:  # pragma: no cover - Windows only
        raise ConfigError(f"aurora-biologic does not import: {exc}") from exc
    try:  # pragma: no cover - Windows only
        return BiologicAPI()  # type: ignore[no-any-return]
    except (OSError, RuntimeError, ValueError) as exc:  # pragma: no cover - Windows only
        raise DeviceFault(f"{_INSTRUMENT}: {exc}") from exc


def eclab_identity(api: BiologicApi) -> str:
    """EC-Lab's online devices with their serial numbers, from the pipeline list (EC-Lab has
    no ``*IDN?``)."""
    try:
        found = api.get_pipelines()
    except (OSError, RuntimeError, ValueError) as exc:
        raise DeviceFault(f"{_INSTRUMENT} lists no pipelines: {exc}") from exc
    devices = {
        f"{info.get('device_name')} (SN {info.get('device_serial_number')})": None
        for info in found.values()
    }
    return f"BioLogic EC-Lab via aurora-biologic: {', '.join(devices) or 'no device online'}"


# -- .mpr data ------------------------------------------------------------------------------


def _column(data: np.ndarray, names: tuple[str, ...]) -> np.ndarray | None:
    for name in names:
        if name in (data.dtype.names or ()):
            return np.asarray(data[name], dtype=float)
    return None


def read_mpr_records(path: Path, first_index: int = 0) -> list[CycleRecord]:
    """The rows of one run's ``.mpr`` as records numbered from `first_index` (see the module
    docstring for the columns); `DeviceFault` for a file galvani cannot read or that lacks one."""
    from galvani.BioLogic import MPRfile

    try:
        with path.open("rb") as handle:
            data = MPRfile(handle).data
    except (OSError, ValueError, AssertionError, KeyError, IndexError, TypeError) as exc:
        raise DeviceFault(f"{_INSTRUMENT} data file {path} does not read: {exc}") from exc
    columns = {
        "time/s": _column(data, ("time/s",)),
        "Ewe/V": _column(data, ("Ewe/V", "<Ewe>/V")),
        "I/mA": _column(data, ("I/mA", "<I>/mA")),
        "Ns": _column(data, ("Ns",)),
        "(Q-Qo)/mA.h": _column(data, ("(Q-Qo)/mA.h",)),
        "|Energy|/W.h": _column(data, ("|Energy|/W.h",)),
    }
    missing = [name for name, values in columns.items() if values is None]
    if missing:
        raise DeviceFault(f"{_INSTRUMENT} data file {path} has no {missing} column")
    time, voltage, current_ma, ns, net_mah, throughput = (
        np.asarray(values) for values in columns.values()
    )
    temperature = _column(data, ("Temperature/°C",))
    records: list[CycleRecord] = []
    cycle, base_q, base_e = 1, 0.0, 0.0
    for row in range(len(time)):
        if row > 0 and ns[row] != ns[row - 1]:  # a new step: totals count from here
            base_q, base_e = float(net_mah[row - 1]), float(throughput[row - 1])
            cycle += 1 if ns[row] < ns[row - 1] else 0
        records.append(
            CycleRecord(
                index=first_index + row,
                time=float(time[row]),
                cycle=cycle,
                step=int(ns[row]) + 1,
                current=float(current_ma[row]) / 1000.0,
                voltage=float(voltage[row]),
                capacity=abs(float(net_mah[row]) - base_q) / 1000.0,
                energy=abs(float(throughput[row]) - base_e),
                temperature=math.nan if temperature is None else float(temperature[row]),
            )
        )
    return records


@dataclass(frozen=True)
class _Run:
    """One loaded protocol on one pipeline: its folder and the data files EC-Lab wrote."""

    folder: Path

    @property
    def settings(self) -> Path:
        return self.folder / SETTINGS_NAME

    @property
    def output(self) -> Path:
        return self.folder / DATA_NAME

    @property
    def stopped_marker(self) -> Path:
        return self.folder / "stopped-by-driver"

    @property
    def start_sent(self) -> Path:
        """Written before START is sent: EC-Lab may have been asked to run this folder."""
        return self.folder / "start-sent"

    @property
    def start_confirmed(self) -> Path:
        """Written once the status confirmed the START."""
        return self.folder / "start-confirmed"

    def data_files(self) -> list[Path]:
        return sorted(self.folder.glob("*.mpr"))

    def ran(self) -> bool:
        """START confirmed, or data written: this folder's settings ran."""
        return self.start_confirmed.exists() or bool(self.data_files())

    def unconfirmed(self) -> bool:
        """START sent, and neither confirmed nor data seen: it may run yet."""
        return self.start_sent.exists() and not self.ran()


class BiologicCycler:
    """A BioLogic cycler (EC-Lab, through `api`) with the cycling loop's cycler interface.

    `limits`: the chemistry's window every protocol is checked against; `capacity`: the cells'
    nominal capacity, Ah (the settings file's battery capacity); `folder`: where settings and
    data live on EC-Lab's PC; `clock` paces the START confirmation in instrument time.
    """

    PARSER_VERSION: ClassVar[str] = "1"
    """How this driver reads EC-Lab's files and status: bump it when that changes."""

    def __init__(
        self,
        api: BiologicApi,
        *,
        folder: Path,
        capacity: float,
        limits: ChannelLimits | None = None,
        clock: Clock | None = None,
        sample: str = "cell",
    ) -> None:
        if not (math.isfinite(capacity) and capacity > 0):
            raise ConfigError(f"capacity {capacity} Ah; allowed: > 0")
        self.api = api
        self.folder = Path(folder)
        self.capacity = capacity
        self.limits = limits or ChannelLimits()
        self.clock: Clock = clock or WallClock()
        self.sample = sample
        self._pipelines: list[str] | None = None
        self._cache: dict[Path, tuple[tuple[int, int], list[CycleRecord]]] = {}

    # -- channels ------------------------------------------------------------------------

    def pipelines(self) -> list[str]:
        """The online pipelines, in EC-Lab's order: channel n is the n-th."""
        if self._pipelines is None:
            try:
                found = self.api.get_pipelines()
            except (OSError, RuntimeError, ValueError) as exc:
                raise DeviceFault(f"{_INSTRUMENT} lists no pipelines: {exc}") from exc
            self._pipelines = list(found)
        return self._pipelines

    def channel_count(self) -> int:
        """Number of online pipelines."""
        return len(self.pipelines())

    def pipeline(self, channel: int) -> str:
        """The pipeline id (``MPG2-1-7``) of `channel` (1-based)."""
        names = self.pipelines()
        if not (isinstance(channel, int) and 1 <= channel <= len(names)):
            raise LimitViolation(f"channel {channel}; allowed: 1..{len(names)}")
        return names[channel - 1]

    def identity(self) -> str:
        """EC-Lab and its devices (`eclab_identity`)."""
        return eclab_identity(self.api)

    # -- protocols -----------------------------------------------------------------------

    def validate(self, protocol: CyclingProtocol) -> None:
        """Raise `LimitViolation` unless every step stays inside the chemistry's window."""
        check_limits(protocol, self.limits)

    def settings_text(self, protocol: CyclingProtocol) -> str:
        """The ``.mps`` EC-Lab loads for `protocol`; `UnsupportedStep` (a `ConfigError`) for a
        step EC-Lab's Modulo Bat cannot express, `LimitViolation` outside the window."""
        self.validate(protocol)
        return biologic_mps(
            protocol, limits=self.limits, capacity_ah=self.capacity, sample=self.sample
        )

    def load(self, channel: int, protocol: CyclingProtocol) -> None:
        """Write `protocol`'s settings file into a new run folder and load it on the channel.

        Everything is checked (window, export, channel, not running, no START awaiting a
        person's check: `StartUnconfirmed`) before the file is written or EC-Lab is asked
        anything that changes a channel.
        """
        text = self.settings_text(protocol)
        pipeline = self.pipeline(channel)
        status = self.status(channel)
        if status.state == "RUNNING":
            raise ChannelBusy(
                f"{_INSTRUMENT} channel {channel} ({pipeline}) is running; stop it before loading"
            )
        runs = self._runs(pipeline)
        if runs and runs[-1].unconfirmed():
            raise StartUnconfirmed(channel, pipeline, runs[-1].start_sent)
        if runs and not runs[-1].ran():  # loaded, never started: load again in place
            run = runs[-1]
        else:
            run = _Run(self.folder / pipeline / f"run-{len(runs) + 1:04d}")
        run.folder.mkdir(parents=True, exist_ok=True)
        run.settings.write_text(text, encoding="cp1252")  # EC-Lab's encoding (unicycler's)
        try:
            self._call(
                "load settings on", channel, lambda: self.api.load_settings(pipeline, run.settings)
            )
        except DeviceFault:
            run.settings.unlink()  # not loaded: START must not run what EC-Lab held before
            raise

    def start(self, channel: int) -> ChannelStatus:
        """Run the loaded settings (again, in a new run folder, if they already ran), confirmed
        by the status: RUNNING, or DONE/FAULT with new data.

        Sent at most once per run folder: ``start-sent`` is written there first. A
        `DeviceFault` says the START was not confirmed within `START_CHECKS` status reads; it
        may still run (EC-Lab can be slower), so a later `start` on that folder raises
        `StartUnconfirmed` and sends nothing until a person has checked the channel in EC-Lab
        and, if it shows no experiment, deleted the ``start-sent`` file the error names.
        """
        pipeline = self.pipeline(channel)
        runs = self._runs(pipeline)
        if not runs or not runs[-1].settings.exists():
            raise DeviceFault(f"{_INSTRUMENT} channel {channel} ({pipeline}): no protocol loaded")
        if self.status(channel).state == "RUNNING":
            raise ChannelBusy(f"{_INSTRUMENT} channel {channel} ({pipeline}) is already running")
        run = runs[-1]
        if run.unconfirmed():
            raise StartUnconfirmed(channel, pipeline, run.start_sent)
        if run.ran():  # ran before: a fresh run folder with the same settings
            fresh = _Run(self.folder / pipeline / f"run-{len(runs) + 1:04d}")
            fresh.folder.mkdir(parents=True)
            shutil.copyfile(run.settings, fresh.settings)
            run = fresh
            self._call(
                "load settings on", channel, lambda: self.api.load_settings(pipeline, run.settings)
            )
        before = self.record_count(channel)
        error: Exception | None = None
        run.start_sent.touch()  # before EC-Lab hears it: a START is never sent twice
        try:
            self.api.run_channel(pipeline, run.output)
        except (OSError, RuntimeError, ValueError) as exc:
            error = exc  # did it arrive? the status says; never sent twice
        for attempt in range(START_CHECKS):
            status = self.status(channel)
            if status.state == "RUNNING" or (
                status.state in ("DONE", "FAULT") and self.record_count(channel) > before
            ):
                run.start_confirmed.touch()
                return status
            if attempt + 1 < START_CHECKS:
                self.clock.sleep(1.0)
        said = f"; EC-Lab said: {error}" if error else ""
        raise DeviceFault(
            f"{_INSTRUMENT} channel {channel} ({pipeline}) did not start (state "
            f"{status.state}){said}; not re-sent: it may still start, so this run folder "
            f"takes no START until a person has checked the channel in EC-Lab (if it shows no "
            f"experiment, delete {run.start_sent})"
        )

    def stop(self, channel: int) -> ChannelStatus:
        """Stop the channel's run; the target state (not RUNNING) makes it safe to repeat."""
        pipeline = self.pipeline(channel)
        status = self.status(channel)
        for _ in range(2):
            if status.state != "RUNNING":
                return status
            runs = self._runs(pipeline)
            if runs:
                runs[-1].stopped_marker.touch()
            self._call("stop", channel, lambda: self.api.stop(pipeline))
            status = self.status(channel)
        raise DeviceFault(
            f"{_INSTRUMENT} channel {channel} ({pipeline}) still runs after two stops"
        )

    def status(self, channel: int) -> ChannelStatus:
        """The channel's state, step, cycle and time from EC-Lab's ``MeasureStatus``."""
        pipeline = self.pipeline(channel)
        try:
            found = self.api.get_status(pipeline)
        except (OSError, RuntimeError, ValueError) as exc:
            raise DeviceFault(f"{_INSTRUMENT} status of {pipeline}: {exc}") from exc
        info = found.get(pipeline)
        if info is None:
            raise DeviceFault(f"{_INSTRUMENT} gave no status for channel {channel} ({pipeline})")
        return self._status(pipeline, info)

    def _status(self, pipeline: str, info: dict[str, Any]) -> ChannelStatus:
        try:
            state_name = str(info["Status"])
            step = int(float(info.get("Sequence number", 0))) + 1
            cycle = int(float(info.get("Current loop iteration number", 0))) + 1
            time = float(info.get("Time (s)", 0.0))
        except (KeyError, TypeError, ValueError) as exc:
            raise DeviceFault(f"{_INSTRUMENT} status of {pipeline} unreadable: {info!r}") from exc
        safety = str(info.get("Safety limit", "Ok"))
        connection = str(info.get("Connection", "Ok"))
        runs = self._runs(pipeline)
        ran = bool(runs) and bool(runs[-1].data_files())  # the latest settings have data
        state: ChannelState
        reason = ""
        if state_name in RUNNING:
            state = "RUNNING"
            reason = "" if state_name == "Run" else state_name
        elif connection != "Ok":
            state, reason = "FAULT", f"connection {connection}"
        elif ran and safety != "Ok":
            state, reason = "FAULT", f"safety limit {safety}"
        elif not ran or runs[-1].stopped_marker.exists():
            state = "IDLE"
        else:
            state = "DONE"
        if not any(run.data_files() for run in runs):
            step = cycle = 0
        return ChannelStatus(
            state=state, step=step, cycle=cycle, time=max(time, 0.0), reason=reason
        )

    # -- data ----------------------------------------------------------------------------

    def record_count(self, channel: int) -> int:
        """Records stored on `channel` = the index the next record will get."""
        return sum(len(self._rows(path)) for path in self._data_files(self.pipeline(channel)))

    def fetch(
        self, channel: int, since: int = 0, max_records: int = 100
    ) -> tuple[list[CycleRecord], int]:
        """Records with index ≥ `since` (at most `max_records`) and the next index to ask for."""
        pipeline = self.pipeline(channel)
        if not (since >= 0 and 1 <= max_records <= MAX_RECORDS_PER_QUERY):
            raise LimitViolation(
                f"since {since}, max {max_records}; allowed since >= 0, "
                f"1 <= max <= {MAX_RECORDS_PER_QUERY}"
            )
        collected: list[CycleRecord] = []
        first = 0  # index of the file's first row
        for path in self._data_files(pipeline):
            rows = self._rows(path)
            start = max(since - first, 0)
            for row in rows[start : start + max_records - len(collected)]:
                collected.append(replace(row, index=first + row.index))
            first += len(rows)
        return collected, since + len(collected)

    def fetch_all(self, channel: int, since: int = 0) -> tuple[list[CycleRecord], int]:
        """Every record from `since` on, in pages of `MAX_RECORDS_PER_QUERY`."""
        return fetch_every(self.fetch, channel, since)

    # -- internals -----------------------------------------------------------------------

    def _runs(self, pipeline: str) -> list[_Run]:
        root = self.folder / pipeline
        if not root.is_dir():
            return []
        return [_Run(path) for path in sorted(root.glob("run-*")) if path.is_dir()]

    def _data_files(self, pipeline: str) -> list[Path]:
        return [path for run in self._runs(pipeline) for path in run.data_files()]

    def _rows(self, path: Path) -> list[CycleRecord]:
        """`path`'s rows numbered from 0, read again only when the file changed (EC-Lab
        appends to the file of a running channel)."""
        stat = path.stat()
        key = (stat.st_mtime_ns, stat.st_size)
        cached = self._cache.get(path)
        if cached is not None and cached[0] == key:
            return cached[1]
        rows = read_mpr_records(path)
        self._cache[path] = (key, rows)
        return rows

    def _call(self, what: str, channel: int, action: Any) -> None:
        try:
            action()
        except (OSError, RuntimeError, ValueError) as exc:
            raise DeviceFault(
                f"{_INSTRUMENT} would not {what} channel {channel} ({self.pipeline(channel)}): "
                f"{exc or type(exc).__name__}"
            ) from exc
