"""Neware BTS battery tester through aurora-neware's `NewareAPI`, with the cycler interface.

The BTS 8 API is XML over TCP (port 502 by default, not Modbus); aurora-neware 0.2.3 (MIT,
Empa; github.com/EmpaEconversion/aurora-neware) speaks it, and this driver speaks only through
it (a subclass adds a socket timeout). Address form: ``"host:port"`` (``"host"`` alone means
port 502). Channels 1..N are the pipelines ``devid-subdevid-chlid`` in ``getdevinfo`` order
(or the `pipelines` given), so `kinds.cycling.loop` runs on it as on `MultichannelCycler`.

`load` checks the protocol against the chemistry's `ChannelLimits` and writes the Neware step
file (`protocol_export.neware_xml`) into `step_folder`, a folder the BTS PC can read (on a real
bench a share; the BTS reads the file when it starts the test). `start` sends ``start`` with a
barcode and confirms it by a new test id (``inquiredf``) whose ``inquire`` shows that barcode;
it is never re-sent on a dropped link.

Record indices: every BTS test numbers its records from seqid 1, while the cycling loop counts a
channel's records on across its phases (each phase is a new test). The barcode therefore
carries the index the test's first record gets: ``<sample>@<base>``; a record's index is
``base + seqid - 1``, so ``fetch(since)`` is exact and idempotent after a restart (the BTS keeps
the barcode). A test started without such a barcode has base 0.

Only the channel's latest test is reachable: aurora-neware asks ``download``, ``inquiredf`` and
``downloadStepLayer`` with ``testid="0"``, and every reply captured from a real BTS 8.0 answers
with the latest test's id (143 in tests/mocks.py); downloading an earlier test by its id is
nowhere shown, so this driver does not rely on it. Hence `start` refuses (`RecordsNotFetched`,
nothing sent) while the latest test holds records this driver started or read but has not yet
returned from `fetch`: a new test would make them unreachable. A test this driver neither
started nor read (a predecessor cell's, stored before a restart, or one run by hand) is the
caller's to judge: the cycling loop starts a new cell at `record_count` without reading it.
Each exchange names the test it read (``inquiredf`` and ``download`` carry its ``testid``), and
`fetch` holds the driver's lock from ``inquiredf`` to the last reply and refuses a download of
another test than the one inquired (`DeviceFault`): a test started meanwhile (by the BTS client
say) is never read under the previous test's indices.

Record times: ``download``'s ``testtime`` is the time in the step (ms; the captured BTS 8.0
replies of aurora-neware's tests/mocks.py show it), so the test time is rebuilt from
``downloadStepLayer``'s step durations. The main channel's records carry no temperature: a
record's `temperature` is the `temperature` the driver is given (the chamber's setpoint).

Units: ``download``'s ``volt``/``curr``/``cap``/``eng`` are V/A/Ah/Wh. Checked on the captured
BTS 8.0 replies (aurora-neware tests/mocks.py): test 143's CC charge step (``downloadStepLayer``)
lasts 31 799.1 s at ``curr`` 0.000295 and ends at ``cap`` 0.002606 = 0.000295 x 31 799.1 / 3600,
a coin cell of about 2.8 mAh (with its CV step's 0.00023) charged at C/10 (0.3 mA, ~10 h); read
as mA it would be a 3 µAh cell. ``eng`` / ``cap`` = 0.01233 / 0.002606 = 4.73 V lies inside
that step's 3.20..4.90 V, so ``eng`` is Wh. ``inquire``'s ``current`` agrees (-0.0003 on a
channel of the same batch).
"""

from __future__ import annotations

import math
import re
import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from aurora_neware import NewareAPI
from aurora_neware.neware import _xml_to_records

from electroloop.clocks import WallClock
from electroloop.errors import (
    ConfigError,
    DeviceFault,
    InstrumentError,
    InstrumentTimeout,
    LimitViolation,
)
from electroloop.instruments.cycler import (
    PLAUSIBLE_OVERSHOOT,
    ChannelLimits,
    ChannelState,
    ChannelStatus,
    CycleRecord,
    CyclingProtocol,
    MultichannelCycler,
    fetch_every,
)
from electroloop.instruments.protocol_export import neware_xml
from electroloop.instruments.transport import ConnectionLost
from electroloop.protocols import Clock

__all__ = [
    "ChannelBusy",
    "NewareCycler",
    "RecordsNotFetched",
    "TimedNewareAPI",
    "UnknownPipeline",
    "parse_address",
]

T = TypeVar("T")
DEFAULT_PORT = 502
MAX_RECORDS_PER_QUERY = 1000  # a BTS download chunk
_STATES: dict[str, ChannelState] = {
    "working": "RUNNING",
    "pause": "RUNNING",  # a paused test is neither done nor free
    "finish": "DONE",
    "stop": "IDLE",
    "protect": "FAULT",
}
_BASE = re.compile(r"@(\d+)$")
_SAMPLE = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
_TESTID = re.compile(r'<(?:download|downloadStepLayer) [^>]*testid="(\d+)"')
_BLOCKED = "blocked states"  # aurora-neware's ValueError when its own inquire finds it working
_GARBLED = (ValueError, KeyError, TypeError, AttributeError, SyntaxError)


class UnknownPipeline(ConfigError):
    """A pipeline ``devid-subdevid-chlid`` the BTS does not list."""


class ChannelBusy(InstrumentError):
    """The channel is working (or paused): nothing was sent to it."""


class RecordsNotFetched(InstrumentError):
    """`start` would bury records of the channel's latest test not yet fetched; nothing sent."""


def parse_address(address: str) -> tuple[str, int]:
    """``"host:port"`` or ``"host"`` (port 502) -> (host, port); `ConfigError` otherwise."""
    host, _, port_text = address.strip().rpartition(":")
    if not host:
        host, port_text = port_text, str(DEFAULT_PORT)
    if not host or not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ConfigError(f"Neware address {address!r}; allowed: 'host:port' (port 1..65535)")
    return host, int(port_text)


class _LinkSocket(socket.socket):
    """A TCP socket whose `recv` raises when the peer has closed: `NewareAPI.command` reads
    until the terminator and would otherwise spin on the empty reads of a closed link."""

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        chunk = super().recv(bufsize, flags)
        if not chunk and bufsize > 0:
            raise ConnectionResetError("the BTS closed the connection")
        return chunk


class TimedNewareAPI(NewareAPI):
    """aurora-neware's client, unchanged but for its socket: a timeout (a silent BTS cannot
    hang a poll) and a closed link that raises."""

    def __init__(self, ip: str, port: int, timeout: float) -> None:
        super().__init__(ip, port)
        self.neware_socket.close()
        self.neware_socket = _LinkSocket()
        self.neware_socket.settimeout(timeout)


@dataclass(frozen=True)
class _Latest:
    """The channel's latest test as one ``inquiredf`` and ``inquire`` saw it."""

    testid: int
    base: int
    count: int
    inquire: dict[str, Any]

    @property
    def end(self) -> int:
        """The index its next record gets."""
        return self.base + self.count


@dataclass(frozen=True)
class _Layer:
    """The step runs of one test: first seqids and the test time each run began (s)."""

    testid: int
    starts: tuple[int, ...]
    ends: tuple[int, ...]
    begins: tuple[float, ...]


class NewareCycler:
    """A Neware BTS as a `CellCycler`; see the module docstring for addresses and indices."""

    PARSER_VERSION: ClassVar[str] = "1"
    """How this driver reads the BTS's replies (bumped when a parser changes)."""

    def __init__(
        self,
        address: str,
        *,
        step_folder: Path,
        limits: ChannelLimits | None = None,
        clock: Clock | None = None,
        capacity_ah: float = 0.005,
        temperature: float = 25.0,
        pipelines: Sequence[str] | None = None,
        timeout: float = 5.0,
    ) -> None:
        self.host, self.port = parse_address(address)
        if not (math.isfinite(capacity_ah) and capacity_ah > 0):
            raise ConfigError(f"capacity_ah is {capacity_ah}; allowed: > 0 Ah")
        if not timeout > 0:
            raise ConfigError(f"timeout is {timeout} s; allowed: > 0")
        self.step_folder = Path(step_folder)
        self.limits = limits or ChannelLimits()
        self.clock: Clock = clock or WallClock()
        self.capacity_ah = capacity_ah
        self.temperature = temperature
        self.timeout = timeout
        self._wanted = list(pipelines) if pipelines is not None else None
        self._api: NewareAPI | None = None
        self._pipelines: list[str] = []
        self._layers: dict[str, _Layer] = {}
        self._unread: dict[str, tuple[int, int]] = {}
        """pipeline -> (testid, first index not yet fetched) of a test this driver started or
        read: `start` refuses while that test is the latest and holds records from there on."""
        self._lock = threading.RLock()  # one exchange, or one fetch or start, at a time

    # -- link ------------------------------------------------------------------------------

    def _connect(self) -> NewareAPI:
        if self._api is None:
            api = TimedNewareAPI(self.host, self.port, self.timeout)
            try:
                api.connect()
            except TimeoutError:
                api.disconnect()
                raise InstrumentTimeout(
                    f"Neware BTS {self.host}:{self.port}: no answer to connect"
                ) from None
            except OSError as exc:
                api.disconnect()
                raise ConnectionLost(f"Neware BTS {self.host}:{self.port}: {exc}") from None
            except (ValueError, KeyError, TypeError) as exc:  # getdevinfo found nothing
                api.disconnect()
                raise DeviceFault(f"Neware BTS {self.host}:{self.port}: {exc}") from None
            listed = list(api.channel_map)
            if self._wanted is not None:
                missing = [p for p in self._wanted if p not in api.channel_map]
                if missing:
                    api.disconnect()
                    raise UnknownPipeline(
                        f"pipelines {missing} are not on the Neware BTS at {self.host}:"
                        f"{self.port}; allowed: {listed}"
                    )
                listed = list(self._wanted)
            self._pipelines, self._api = listed, api
        return self._api

    def close(self) -> None:
        """Close the link (the next command opens it again)."""
        if self._api is not None:
            self._api.disconnect()
            self._api = None

    def _call(self, what: str, action: Callable[[NewareAPI], T], *, idempotent: bool = True) -> T:
        """Run `action(api)`; a dropped or silent link is reopened and, for a query that moves
        nothing, asked once more. Replies that do not parse raise `DeviceFault`; the named
        errors `action` raises itself (`ChannelBusy`, `ConfigError`…) pass unchanged."""
        retries = 1 if idempotent else 0
        while True:
            with self._lock:  # one exchange at a time on the one socket
                api = self._connect()
                try:
                    return action(api)
                except TimeoutError:
                    self.close()
                    error: InstrumentError = InstrumentTimeout(
                        f"Neware BTS {self.host}:{self.port}: no answer to {what}"
                    )
                except OSError as exc:
                    self.close()
                    error = ConnectionLost(f"Neware BTS {self.host}:{self.port}: {what}: {exc}")
                except _GARBLED as exc:
                    self.close()  # a garbled reply leaves the stream out of step: resynchronise
                    error = DeviceFault(f"Neware BTS answered {what} unreadably: {exc!r}"[:300])
            if retries == 0:
                raise error
            retries -= 1

    def _listed(self, api: NewareAPI, pid: str) -> dict[str, Any]:
        """`pid`'s entry in the BTS's channel map; `UnknownPipeline` if (after a reconnect) the
        BTS no longer lists it."""
        entry = api.channel_map.get(pid)
        if entry is None:
            raise UnknownPipeline(
                f"pipeline {pid} is not on the Neware BTS at {self.host}:{self.port}; "
                f"allowed: {list(api.channel_map)}"
            )
        return entry

    # -- channels --------------------------------------------------------------------------

    def channel_count(self) -> int:
        """Number of channels (pipelines)."""
        with self._lock:
            self._connect()
            return len(self._pipelines)

    def pipeline(self, channel: int) -> str:
        """``devid-subdevid-chlid`` of `channel` (1-based); `LimitViolation` if none."""
        count = self.channel_count()
        if isinstance(channel, bool) or not isinstance(channel, int) or not 1 <= channel <= count:
            raise LimitViolation(f"channel {channel!r}; allowed: 1..{count}")
        return self._pipelines[channel - 1]

    def identity(self) -> str:
        """What the BTS says of itself: device type and unit, and the channels served."""
        with self._lock:
            first = self._listed(self._connect(), self._pipelines[0])
        return (
            f"Neware BTS devtype {first['devtype']} unit {first['devid']} at "
            f"{self.host}:{self.port}, {len(self._pipelines)} channels"
        )

    def _inquire(self, channel: int) -> dict[str, Any]:
        pid = self.pipeline(channel)

        def ask(api: NewareAPI) -> dict[str, Any]:
            self._listed(api, pid)
            return api.inquire(pid)[pid]

        return self._call("inquire", ask)

    def _testid(self, channel: int) -> tuple[int, int]:
        """``inquiredf``: (testid, record count) of the channel's latest test."""
        pid = self.pipeline(channel)

        def ask(api: NewareAPI) -> tuple[int, int]:
            self._listed(api, pid)
            reply = api.inquiredf(pid)[pid]
            return int(reply["testid"]), int(reply["count"])

        return self._call("inquiredf", ask)

    def _latest(self, channel: int) -> _Latest:
        """``inquiredf`` then ``inquire``, under the lock (a caller that must know the two
        describe one test compares a later reply's testid with this one's)."""
        with self._lock:
            testid, count = self._testid(channel)
            reply = self._inquire(channel)
        return _Latest(testid, self._base(reply), count, reply)

    def status(self, channel: int) -> ChannelStatus:
        """``inquire``: state, step, cycle, test time s, and the log code of a protect stop."""
        reply = self._inquire(channel)
        work = str(reply.get("workstatus"))
        if work not in _STATES:
            raise DeviceFault(f"Neware channel {channel} reports workstatus {work!r}")
        reason = ""
        if work == "protect":
            reason = f"protect (log code {reply.get('log_code')})"
        elif work == "pause":
            reason = "pause"
        return ChannelStatus(
            state=_STATES[work],
            step=int(reply.get("step_id") or 0),
            cycle=int(reply.get("cycle_id") or 0),
            time=float(reply.get("totaltime") or 0.0),
            reason=reason,
        )

    def _base(self, reply: dict) -> int:
        match = _BASE.search(str(reply.get("barcode") or ""))
        return int(match[1]) if match else 0

    def record_count(self, channel: int) -> int:
        """Records the channel holds = the index its next record gets (`base` + count);
        `DeviceFault` if a test started while it was asked (ask again)."""
        with self._lock:
            latest = self._latest(channel)
            if self._testid(channel)[0] != latest.testid:
                raise DeviceFault(f"Neware channel {channel}: a test started while counted")
        return latest.end

    # -- protocols -------------------------------------------------------------------------

    def validate(self, protocol: CyclingProtocol) -> None:
        """`LimitViolation` unless every step stays inside the chemistry's window (the SCPI
        cycler driver's check)."""
        MultichannelCycler.validate(self, protocol)  # type: ignore[arg-type]  # reads .limits

    def step_file(self, channel: int) -> Path:
        """Where `load` writes the channel's step file."""
        return self.step_folder / f"electroloop-{self.pipeline(channel)}.xml"

    def load(self, channel: int, protocol: CyclingProtocol, *, sample: str | None = None) -> None:
        """Check `protocol`, write its step file for `channel` and read the file back.

        `sample` (letters, digits, ``_.-``) names the test on the BTS (default
        ``channel<n>``). Refused with `ChannelBusy` while the channel works.
        """
        self.validate(protocol)
        name = sample if sample is not None else f"channel{channel}"
        if not _SAMPLE.fullmatch(name):
            raise ConfigError(f"sample {name!r}; allowed: 1..64 of A-Z a-z 0-9 _ . -")
        state = self.status(channel).state
        if state == "RUNNING":
            raise ChannelBusy(f"Neware channel {channel} ({self.pipeline(channel)}) is working")
        text = neware_xml(protocol, limits=self.limits, capacity_ah=self.capacity_ah, sample=name)
        path = self.step_file(channel)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        if path.read_text(encoding="utf-8") != text:
            raise DeviceFault(f"step file {path} does not read back as written")

    def start(self, channel: int) -> ChannelStatus:
        """Start the loaded step file; confirmed by a new test id, never re-sent.

        Nothing is sent, and `ChannelBusy` raised, if the channel works (also when aurora-
        neware's own ``inquire`` finds it working just before ``start``); `ConfigError` if
        nothing was loaded; `RecordsNotFetched` while records of the latest test this driver
        started or read are not fetched. `DeviceFault` if the BTS refused, or no new test
        carrying the barcode (``inquiredf``'s testid differs from before) can be seen: an old
        test with the same barcode confirms nothing.
        """
        pid, path = self.pipeline(channel), self.step_file(channel)
        with self._lock:  # no fetch of this driver between the count and the start
            if not path.is_file():
                raise ConfigError(
                    f"no step file {path} for channel {channel}; load a protocol first"
                )
            sample = _sample_of(path)
            before = self._latest(channel)
            work = before.inquire.get("workstatus")
            if work not in ("finish", "stop", "protect"):
                raise ChannelBusy(
                    f"Neware channel {channel} ({pid}) is {work}; "
                    "allowed to start: finish, stop, protect"
                )
            self._check_fetched(channel, pid, before)
            barcode = f"{sample}@{before.end}"
            try:
                reply = self._call("start", self._sender(pid, barcode, path), idempotent=False)
                accepted = bool(reply) and reply[0].get("start") == "ok"
            except (ConnectionLost, InstrumentTimeout):
                accepted = True  # did it arrive? inquiredf says; not re-sent either way
            after = self._latest(channel)
            if (
                accepted
                and after.testid != before.testid
                and after.inquire.get("barcode") == barcode
            ):
                self._unread[pid] = (after.testid, before.end)
                return self.status(channel)
        raise DeviceFault(
            f"Neware channel {channel} ({pid}) did not start {path.name} (test id "
            f"{after.testid}, as before {before.testid}; workstatus "
            f"{after.inquire.get('workstatus')}); not re-sent"
        )

    def _check_fetched(self, channel: int, pid: str, latest: _Latest) -> None:
        unread = self._unread.get(pid)
        if unread is not None and unread[0] == latest.testid and unread[1] < latest.end:
            raise RecordsNotFetched(
                f"Neware channel {channel} ({pid}): records {unread[1]}..{latest.end - 1} of "
                f"test {latest.testid} are not fetched, and a new test would make them "
                "unreachable (download reaches the latest test only); fetch them first"
            )

    def _sender(self, pid: str, barcode: str, path: Path) -> Callable[[NewareAPI], list[dict]]:
        """aurora-neware's ``start``, its own refusals named: ``ValueError`` (its ``inquire``
        found the channel working) is `ChannelBusy`, ``FileNotFoundError`` (the step file is
        gone) `ConfigError`; in both cases nothing was sent."""

        def send(api: NewareAPI) -> list[dict]:
            self._listed(api, pid)
            try:
                return api.start(pid, barcode, path, save_location=self.step_folder)
            except FileNotFoundError:
                raise ConfigError(
                    f"step file {path} is gone; load a protocol again (nothing was started)"
                ) from None
            except ValueError as exc:
                if _BLOCKED not in str(exc):
                    raise
                raise ChannelBusy(
                    f"Neware pipeline {pid} began working before start was sent; not sent"
                ) from None

        return send

    def stop(self, channel: int) -> ChannelStatus:
        """``stop``; the target state (not RUNNING) makes it safe to send again."""
        pid = self.pipeline(channel)
        status = self.status(channel)
        for _ in range(2):
            if status.state != "RUNNING":
                return status
            self._call("stop", lambda api: api.stop(pid))
            status = self.status(channel)
        raise DeviceFault(f"Neware channel {channel} ({pid}) is still working after two stops")

    # -- data ------------------------------------------------------------------------------

    def fetch(
        self, channel: int, since: int = 0, max_records: int = 100
    ) -> tuple[list[CycleRecord], int]:
        """Records with index ≥ `since` (at most `max_records`) and the next index to ask.

        One test throughout: ``inquiredf``, ``inquire``, ``download`` (and the step layer)
        under the lock, and `DeviceFault` if ``download`` answers for another test than the one
        inquired (a test started meanwhile; ask again).
        """
        pid = self.pipeline(channel)
        if not (since >= 0 and 1 <= max_records <= MAX_RECORDS_PER_QUERY):
            raise LimitViolation(
                f"since {since}, max {max_records}; allowed since >= 0, "
                f"1 <= max <= {MAX_RECORDS_PER_QUERY}"
            )
        with self._lock:
            latest = self._latest(channel)
            if since < latest.base:
                raise DeviceFault(
                    f"Neware channel {channel}: records before index {latest.base} belong to "
                    "an earlier test, which download does not reach"
                )
            if since >= latest.end:
                return [], since
            reply = self._call(
                "download", self._downloader(pid, since - latest.base + 1, max_records)
            )
            self._same_test(channel, "download", reply, latest.testid)
            try:
                rows = _xml_to_records(reply)
            except Exception as exc:  # noqa: BLE001  defusedxml and parsing errors alike
                raise DeviceFault(
                    f"Neware BTS answered download unreadably: {exc!r}"[:300]
                ) from None
            if not rows:
                return [], since
            records = self._records(channel, pid, latest.testid, latest.base, rows)
            expected = list(range(since, since + len(records)))
            if [r.index for r in records] != expected:
                raise DeviceFault(f"Neware channel {channel} returned records out of sequence")
            following = since + len(records)
            unread = self._unread.get(pid)
            if unread is None or unread[0] != latest.testid or unread[1] < following:
                self._unread[pid] = (latest.testid, following)
            return records, following

    def _downloader(self, pid: str, startpos: int, count: int) -> Callable[[NewareAPI], str]:
        """``download`` of the latest test from seqid `startpos`, as aurora-neware words it."""

        def ask(api: NewareAPI) -> str:
            pip = self._listed(api, pid)
            return api.command(
                "<cmd>download</cmd>"
                f'<download devtype="{pip["devtype"]}" devid="{pip["devid"]}" '
                f'subdevid="{pip["subdevid"]}" chlid="{pip["Channelid"]}" '
                f'auxid="0" testid="0" startpos="{startpos}" count="{count}"/>'
            )

        return ask

    @staticmethod
    def _same_test(channel: int, what: str, reply: str, testid: int) -> None:
        match = _TESTID.search(reply)
        if match is None or int(match[1]) != testid:
            raise DeviceFault(
                f"Neware channel {channel}: {what} answered for test "
                f"{match[1] if match else '?'}, not the inquired test {testid} "
                "(a test started meanwhile); ask again"
            )

    def fetch_all(self, channel: int, since: int = 0) -> tuple[list[CycleRecord], int]:
        """Every record from `since` on, in pages of `MAX_RECORDS_PER_QUERY`."""
        return fetch_every(self.fetch, channel, since, MAX_RECORDS_PER_QUERY)

    def _records(
        self, channel: int, pid: str, testid: int, base: int, rows: list[dict]
    ) -> list[CycleRecord]:
        low = self.limits.min_voltage - self.limits.safety_margin - PLAUSIBLE_OVERSHOOT
        high = self.limits.max_voltage + self.limits.safety_margin + PLAUSIBLE_OVERSHOOT
        try:
            last_seqid = int(rows[-1]["seqid"])
        except (KeyError, TypeError, ValueError) as exc:
            raise DeviceFault(f"Neware download record {rows[-1]!r:.200}: {exc}") from None
        layer = self._layer(channel, pid, testid, last_seqid)
        records = []
        for row in rows:
            try:
                seqid = int(row["seqid"])
                voltage = float(row["volt"])
                record = CycleRecord(
                    index=base + seqid - 1,
                    time=layer_time(layer, seqid) + float(row["testtime"]) / 1000.0,
                    cycle=int(row["cycleid"]),
                    step=int(row["stepid"]),
                    current=float(row["curr"]),
                    voltage=voltage,
                    capacity=float(row["cap"]),
                    energy=float(row["eng"]),
                    temperature=self.temperature,
                )
            except (KeyError, TypeError, ValueError) as exc:
                raise DeviceFault(f"Neware download record {row!r:.200}: {exc}") from None
            if not low <= voltage <= high:
                raise DeviceFault(
                    f"Neware channel {channel} record {record.index} reads {voltage:.4f} V, "
                    f"beyond what its safety limits allow ({low:.2f}..{high:.2f} V)"
                )
            records.append(record)
        return records

    def _layer(self, channel: int, pid: str, testid: int, last_seqid: int) -> _Layer:
        """The test's step runs, asked again only when a record lies past the known ones."""
        cached = self._layers.get(pid)
        if cached is not None and cached.testid == testid and cached.ends[-1] >= last_seqid:
            return cached

        def ask(api: NewareAPI) -> str:
            pip = self._listed(api, pid)
            return api.command(  # aurora-neware's get_steps, its reply's testid kept
                f"<cmd>downloadStepLayer</cmd>"
                f'<downloadStepLayer devtype="{pip["devtype"]}" devid="{pip["devid"]}" '
                f'subdevid="{pip["subdevid"]}" chlid="{pip["Channelid"]}" />'
            )

        reply = self._call("downloadStepLayer", ask)
        self._same_test(channel, "downloadStepLayer", reply, testid)
        try:
            steps = _xml_to_records(reply)
        except Exception as exc:  # noqa: BLE001  defusedxml and parsing errors alike
            raise DeviceFault(
                f"Neware BTS answered downloadStepLayer unreadably: {exc!r}"[:300]
            ) from None
        starts, ends, begins, clock = [], [], [], 0.0
        for step in steps:
            starts.append(int(step["startseqid"]))
            ends.append(int(step["endseqid"]))
            begins.append(clock)
            clock += float(step["steptime"]) / 1000.0
        if not starts:
            raise DeviceFault(f"Neware pipeline {pid}: records but no step layer")
        layer = _Layer(testid, tuple(starts), tuple(ends), tuple(begins))
        self._layers[pid] = layer
        return layer


def layer_time(layer: _Layer, seqid: int) -> float:
    """Test time (s) at which the step run holding record `seqid` began."""
    low, high = 0, len(layer.starts) - 1
    while low < high:  # the last run starting at or before seqid
        middle = (low + high + 1) // 2
        if layer.starts[middle] <= seqid:
            low = middle
        else:
            high = middle - 1
    return layer.begins[low]


def _sample_of(path: Path) -> str:
    """The sample name a step file carries (Head_Info/Remark, as unicycler writes it)."""
    match = re.search(r'<Remark Value="([^"]*)"', path.read_text(encoding="utf-8"))
    name = match[1] if match else "cell"
    return name if _SAMPLE.fullmatch(name) else "cell"
