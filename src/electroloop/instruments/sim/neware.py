"""Simulated Neware BTS 8 battery tester, speaking the BTS's XML-over-TCP API byte for byte.

The message formats are those aurora-neware 0.2.3 (MIT, Empa; github.com/EmpaEconversion/
aurora-neware) sends, and the replies copy the ones its ``tests/mocks.py`` captured from a real
BTS 8.0: a request is ``<?xml version="1.0" encoding="UTF-8" ?><bts version="1.0">…</bts>``
followed by ``"\\n\\n#\\r\\n"``; a reply is ``<?xml …?>\\r\\n<bts version="1.0">\\r\\n  <cmd>X_resp
</cmd>…</bts>`` with the same terminator (the BTS's own spellings ``donwload_resp`` and
``donwloadlog_resp`` included).
Channels are addressed as ``devid-subdevid-chlid`` (eight channels to a sub-device).

Commands: connect, getdevinfo, getchlstatus, inquire, inquiredf, start, stop, download,
downloadlog, downloadStepLayer, light, clearflag. ``start`` reads the step file at the path the
client names (the BTS PC reads its own disk; here the client's local file) as aurora-unicycler's
``to_neware_xml`` writes it (V x 10000, ms, mA): Step_Type 1/2 CC charge/discharge, 3/19 CV
charge/discharge, 4 rest, 5 loop (one per file here), 6 end; any other step type (25, a voltage
scan, included) makes the start reply ``false`` and nothing starts. ``download``'s ``testtime``
is the time in the step (ms), as the captured replies show; ``downloadStepLayer`` gives each
step's ``steptime``, so a client rebuilds the test time exactly.

Each channel runs the same engine as the SCPI cycler simulator (`sim.cycler.ChannelEngine`, an
`EquivalentCircuitCell`, the same seeded noise for the same seed and channel), so a protocol on
either simulator yields the same records. Assumptions (not in the captured replies): CV
discharge reports ``step_type="dcv"``; a protect stop reports ``log_code="103000"``.

Simulator only: ``<cmd>simfill</cmd><fill devid=… subdevid=… chlid=… capacity=…
electrolyte_conductivity=… temperature=… sei_multiplier=…/>`` puts a freshly filled cell on a
channel (the technician of `cell_line`), answered with the cell now held.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.etree.ElementTree import Element

import numpy as np
from aurora_neware import NewareAPI
from defusedxml import ElementTree

from electroloop.errors import SimulationError
from electroloop.instruments.sim.cell_line import FILL_FIELDS
from electroloop.instruments.sim.clock import SimClock
from electroloop.instruments.sim.cycler import (
    MAX_CYCLES,
    MAX_STEPS,
    MAX_VOLTAGE,
    ChannelEngine,
    EngineStep,
)
from electroloop.instruments.sim.server import LineServer
from electroloop.simulations.cell_circuit import CellSpec, EquivalentCircuitCell

__all__ = [
    "NEWARE_TERMINATOR",
    "NewareServer",
    "StepFileError",
    "fill_over_api",
    "parse_step_file",
]

NEWARE_TERMINATOR = b"\n\n#\r\n"
CHANNELS_PER_SUBDEVICE = 8
MAX_DOWNLOAD = 1000  # records a download reply holds at most (aurora-neware asks for 1000)
_HEAD = '<?xml version="1.0" encoding="UTF-8"?>\r\n<bts version="1.0">\r\n'
_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)  # the simulated BTS PC's clock at instrument time 0
_STATES = {"IDLE": "stop", "RUNNING": "working", "DONE": "finish", "FAULT": "protect"}
_SPELLING = {"download": "donwload", "downloadlog": "donwloadlog"}  # as the BTS 8.0 spells them
_LOG = {"start": 100000, "finish": 100001, "stop": 100007, "protect": 103000}


class StepFileError(SimulationError):
    """A step file the simulated BTS cannot run (its start reply is then ``false``)."""


def _value(element: Element, path: str) -> float | None:
    found = element.find(path)
    if found is None:
        return None
    number = float(found.get("Value", "nan"))
    if not math.isfinite(number):
        raise StepFileError(f"{path} has no finite Value")
    return number


def parse_step_file(text: str) -> tuple[list[EngineStep], dict[str, float], float]:
    """(steps, safety limits vmin/vmax/imax in V and A, record interval s) of a Neware step
    file as aurora-unicycler's ``to_neware_xml`` writes it. Raises `StepFileError`."""
    try:
        root = ElementTree.fromstring(text.encode("utf-8"))
    except ElementTree.ParseError as exc:
        raise StepFileError(f"not XML: {exc}") from None
    config = root.find("config")
    info = None if config is None else config.find("Step_Info")
    if config is None or info is None:
        raise StepFileError("no config/Step_Info")
    steps: list[EngineStep] = []
    ended = False
    for number, element in enumerate(info, start=1):
        kind = element.get("Step_Type", "")
        main = f"Limit/Main/{'{}'}"
        tmax_ms = _value(element, main.format("Time"))
        tmax = None if tmax_ms is None else tmax_ms / 1000.0
        if ended:
            raise StepFileError(f"step {number} follows the end step")
        if kind in ("1", "2"):
            current = (_value(element, main.format("Curr")) or 0.0) / 1000.0
            stop = _value(element, main.format("Stop_Volt"))
            sign = 1.0 if kind == "1" else -1.0
            voltage = (MAX_VOLTAGE if sign > 0 else 0.0) if stop is None else stop / 10000.0
            if current <= 0.0:
                raise StepFileError(f"step {number}: CC needs Curr > 0")
            steps.append(EngineStep("CC", sign * current, voltage, tmax))
        elif kind in ("3", "19"):
            voltage = _value(element, main.format("Volt"))
            cutoff = _value(element, main.format("Stop_Curr"))
            if voltage is None or cutoff is None or cutoff <= 0.0:
                raise StepFileError(f"step {number}: CV needs Volt and Stop_Curr > 0")
            steps.append(EngineStep("CV", voltage / 10000.0, cutoff / 1000.0, tmax))
        elif kind == "4":
            if tmax is None or tmax <= 0.0:
                raise StepFileError(f"step {number}: rest needs Time > 0")
            steps.append(EngineStep("REST", tmax))
        elif kind == "5":
            first = _value(element, "Limit/Other/Start_Step")
            count = _value(element, "Limit/Other/Cycle_Count")
            if first is None or count is None or not (1 <= first < number):
                raise StepFileError(f"step {number}: loop needs Start_Step before it")
            if not 1 <= count <= MAX_CYCLES or any(s.kind == "LOOP" for s in steps):
                raise StepFileError(f"step {number}: one loop of 1..{MAX_CYCLES} cycles")
            steps.append(EngineStep("LOOP", int(first), int(count)))
        elif kind == "6":
            ended = True
        else:
            raise StepFileError(f"step {number}: Step_Type {kind!r} is not supported")
    if not 1 <= len(steps) <= MAX_STEPS:
        raise StepFileError(f"{len(steps)} steps; allowed 1..{MAX_STEPS}")
    protect = "Whole_Prt/Protect/Main/"
    upper, lower = _value(config, protect + "Volt/Upper"), _value(config, protect + "Volt/Lower")
    imax = _value(config, protect + "Curr/Upper")
    limits = {
        "vmin": 0.0 if lower is None else lower / 10000.0,
        "vmax": MAX_VOLTAGE if upper is None else upper / 10000.0,
    }
    if imax is not None:
        limits["imax"] = imax / 1000.0
    interval = _value(config, "Whole_Prt/Record/Main/Time")
    return steps, limits, 30.0 if interval is None else interval / 1000.0


@dataclass
class _Test:
    """One started test on a channel: its id, barcode, start time and log."""

    testid: int
    barcode: str
    started: float  # instrument time of its start
    log: list[tuple[int, int, float]] = field(default_factory=list)  # (seqid, code, time)


class _Pipeline:
    """One BTS channel: the shared cycler engine, its latest test, and the step runs of that
    test's records (kept as they grow, so downloads cost what they return)."""

    def __init__(self, engine: ChannelEngine, subdevid: int, chlid: int) -> None:
        self.engine = engine
        self.subdevid, self.chlid = subdevid, chlid
        self.test: _Test | None = None
        self._seen_state = "IDLE"
        self._runs: list[list[int]] = []  # [first, last] record positions of each step run
        self._starts: list[float] = []  # per record: test time its step run began

    @property
    def workstatus(self) -> str:
        return _STATES[self.engine.state]

    @property
    def records(self) -> list[tuple]:
        return self.engine.records if self.test is not None else []

    def begin(self, test: _Test) -> None:
        self.test, self._runs, self._starts = test, [], []
        self.engine.records = []  # every test numbers its records from seqid 1

    def runs(self) -> tuple[list[list[int]], list[float]]:
        """Step runs (a new run where step or cycle changes) and each record's run start."""
        records = self.records
        for position in range(len(self._starts), len(records)):
            record = records[position]
            if self._runs and records[self._runs[-1][1]][2:4] == record[2:4]:
                self._runs[-1][1] = position
            else:
                self._runs.append([position, position])
            first = self._runs[-1][0]
            self._starts.append(records[first - 1][1] if first > 0 else 0.0)
        return self._runs, self._starts

    def note_state(self, now: float) -> None:
        """Log a test's end (finish, protect) the first time it is seen."""
        state = self.engine.state
        if self.test and state != self._seen_state and state in ("DONE", "FAULT"):
            self.test.log.append((len(self.records), _LOG[_STATES[state]], now))
        self._seen_state = state


class NewareServer(LineServer):
    """An N-channel BTS unit ``devid`` (device type ``devtype``); channel n (1-based) is
    pipeline ``devid-((n-1)//8+1)-((n-1)%8+1)``. `fill(n, spec)` puts a new cell on channel n."""

    terminator = NEWARE_TERMINATOR
    reply_terminator = NEWARE_TERMINATOR
    name = "neware"

    def __init__(
        self,
        channels: int = 8,
        *,
        clock: SimClock | None = None,
        cells: Mapping[int, CellSpec] | None = None,
        devid: int = 21,
        devtype: int = 27,
        max_current: float = 0.1,
        max_step: float = 60.0,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 0,
    ) -> None:
        if not 1 <= channels <= 64:
            raise SimulationError(f"{channels} channels; allowed: 1..64")
        self.clock = clock or SimClock()
        self.devid, self.devtype = devid, devtype
        self.max_current = max_current
        self.max_step = max_step
        self._seed = seed
        self._state = threading.RLock()
        self._next_testid = 1
        now = self.clock.now()
        cells = cells or {}
        self._pipelines: list[_Pipeline] = []
        for n in range(1, channels + 1):
            engine = ChannelEngine(
                EquivalentCircuitCell(cells.get(n, CellSpec()), seed=seed * 1000 + n),
                now,
                np.random.default_rng([seed, n]),
                self,  # type: ignore[arg-type]  # the engine reads max_current and max_step
            )
            sub, chl = divmod(n - 1, CHANNELS_PER_SUBDEVICE)
            self._pipelines.append(_Pipeline(engine, sub + 1, chl + 1))
        super().__init__(host=host, port=port, seed=seed)

    @property
    def channel_count(self) -> int:
        return len(self._pipelines)

    def pipeline_id(self, channel: int) -> str:
        """``devid-subdevid-chlid`` of channel `channel` (1-based)."""
        pipe = self._pipeline(channel)
        return f"{self.devid}-{pipe.subdevid}-{pipe.chlid}"

    def cell(self, channel: int) -> EquivalentCircuitCell:
        """The cell on `channel`, integrated up to now."""
        with self._state:
            self._advance()
            return self._pipeline(channel).engine.cell

    def fill(self, channel: int, spec: CellSpec) -> None:
        """Connect a freshly filled cell to `channel` (not while it works)."""
        with self._state:
            self._advance()
            pipe = self._pipeline(channel)
            if pipe.engine.state == "RUNNING":
                raise SimulationError(f"channel {channel} is working; stop it before refilling")
            pipe.engine.cell = EquivalentCircuitCell(spec, seed=self._seed * 1000 + channel)

    def error_answer(self, line: str) -> str | None:
        """A `Fault.ERROR`: the BTS refuses the command (``<result>false</result>``)."""
        return self._reply(self._command_name(line), "  <result>false</result>\r\n")

    def _pipeline(self, channel: int) -> _Pipeline:
        if not 1 <= channel <= len(self._pipelines):
            raise SimulationError(f"channel {channel}; allowed: 1..{len(self._pipelines)}")
        return self._pipelines[channel - 1]

    def _advance(self) -> None:
        now = self.clock.now()
        for pipe in self._pipelines:
            pipe.engine.advance(now, self.drift, self.stuck_busy)
            pipe.note_state(now)

    # -- protocol ------------------------------------------------------------------------

    @staticmethod
    def _command_name(line: str) -> str:
        start, end = line.find("<cmd>"), line.find("</cmd>")
        return line[start + 5 : end].strip() if 0 <= start < end else "unknown"

    @staticmethod
    def _reply(command: str, body: str) -> str:
        return f"{_HEAD}  <cmd>{command}_resp</cmd>\r\n{body}</bts>"

    def answer(self, line: str) -> str | None:
        text = line.encode("latin-1").decode("utf-8", errors="replace")
        try:
            root = ElementTree.fromstring(text.strip().encode("utf-8"))
        except ElementTree.ParseError:
            return self._reply("unknown", "  <result>false</result>\r\n")
        command = (root.findtext("cmd") or "").strip()
        handler = {
            "connect": self._connect,
            "getdevinfo": self._getdevinfo,
            "getchlstatus": self._channel_list,
            "inquire": self._channel_list,
            "inquiredf": self._channel_list,
            "start": self._start,
            "stop": self._channel_list,
            "light": self._channel_list,
            "clearflag": self._channel_list,
            "download": self._download,
            "downloadlog": self._downloadlog,
            "downloadStepLayer": self._step_layer,
            "simfill": self._simfill,
        }.get(command)
        if handler is None:
            return self._reply(command or "unknown", "  <result>false</result>\r\n")
        with self._state:
            self._advance()
            body = handler(command, root)
        return self._reply(_SPELLING.get(command, command), body).encode("utf-8").decode("latin-1")

    def _connect(self, command: str, root: Element) -> str:
        good = root.findtext("username") == "admin" and root.findtext("password") == "neware"
        return f"  <result>{'ok' if good else 'false'}</result>\r\n"

    def _address(self, pipe: _Pipeline) -> str:
        return (
            f'ip="{self.host}" devtype="{self.devtype}" devid="{self.devid}" '
            f'subdevid="{pipe.subdevid}" chlid="{pipe.chlid}"'
        )

    def _getdevinfo(self, command: str, root: Element) -> str:
        rows = "".join(
            f"    <channel {self._address(p).replace('chlid', 'Channelid')}>true</channel>\r\n"
            for p in self._pipelines
        )
        return (
            f'  <serverip count="1">\r\n    <server ip="{self.host}" port="3306" />\r\n'
            f'  </serverip>\r\n  <middle count="{len(self._pipelines)}">\r\n{rows}</middle>\r\n'
        )

    def _find(self, element: Element) -> _Pipeline | None:
        try:
            devid, sub = int(element.get("devid", "")), int(element.get("subdevid", ""))
            chl = int(element.get("chlid", ""))
        except ValueError:
            return None
        for pipe in self._pipelines:
            if devid == self.devid and (pipe.subdevid, pipe.chlid) == (sub, chl):
                return pipe
        return None

    def _channel_list(self, command: str, root: Element) -> str:
        items = list(root.find("list") or [])
        rows = []
        for item in items:
            pipe = self._find(item)
            rows.append(self._channel_row(command, item, pipe))
        return f'  <list count="{len(rows)}">\r\n{"".join(rows)}  </list>\r\n'

    def _channel_row(self, command: str, item: Element, pipe: _Pipeline | None) -> str:
        where = (
            f'ip="{self.host}" devtype="{self.devtype}" devid="{item.get("devid", "")}" '
            f'subdevid="{item.get("subdevid", "")}" chlid="{item.get("chlid", "")}"'
        )
        if command == "inquire":
            return self._inquire_row(item, pipe)
        if command == "inquiredf":
            test = pipe.test if pipe else None
            count = len(pipe.records) if pipe else 0
            done = "false" if pipe and pipe.workstatus == "working" else "true"
            return (
                f'    <chl {where.split(" ", 1)[1]} testid="{test.testid if test else 0}" '
                f'count="{count}">{done}</chl>\r\n'
            )
        if command == "getchlstatus":
            status = pipe.workstatus if pipe else "false"
            return f'    <status {where} reservepause="1">{status}</status>\r\n'
        if command == "stop":
            ok = pipe is not None and pipe.engine.state == "RUNNING"
            if ok and pipe is not None:
                pipe.engine.stop()
                if pipe.test is not None:
                    pipe.test.log.append((len(pipe.records), _LOG["stop"], pipe.engine.time))
                pipe.note_state(pipe.engine.time)
            return f"    <stop {where}>{'ok' if ok else 'false'}</stop>\r\n"
        result = "ok" if pipe is not None else "false"  # light, clearflag
        return f"    <{command} {where}>{result}</{command}>\r\n"

    def _inquire_row(self, item: Element, pipe: _Pipeline | None) -> str:
        dev = f"{self.devtype}-{item.get('devid')}-{item.get('subdevid')}-{item.get('chlid')}-0"
        if pipe is None:
            return f'    <inquire dev="{dev}" workstatus="false" />\r\n'
        engine = pipe.engine
        test = pipe.test
        status = pipe.workstatus
        step, current, voltage, step_time, charge, energy = engine.present()
        running = step is not None
        step_part = (
            f'step_id="{engine.step_number}" step_type="{_step_type(step, current)}" '
            if step is not None
            else 'step_type="--" '
        )
        code = 102000 if running else (_LOG["protect"] if status == "protect" else 0)
        return (
            f'    <inquire dev="{dev}" cycle_id="{max(engine.cycle, 1)}" {step_part}'
            f'workstatus="{status}" barcode="{_escape(test.barcode) if test else ""}" '
            f'current="{current:.4f}" voltage="{voltage:.4f}" '
            f'capacity="{charge:.4f}" energy="{energy:.4f}" '
            f'totaltime="{engine.run_time:.1f}" relativetime="{step_time:.1f}" '
            f'open_or_close="0" log_code="{code}" />\r\n'
        )

    def _start(self, command: str, root: Element) -> str:
        listed = root.find("list")
        rows = []
        for item in [] if listed is None else list(listed.findall("start")):
            pipe = self._find(item)
            ok = pipe is not None and self._start_one(pipe, item)
            rows.append(
                f'    <start ip="{self.host}" devtype="{self.devtype}" '
                f'devid="{item.get("devid", "")}" subdevid="{item.get("subdevid", "")}" '
                f'chlid="{item.get("chlid", "")}">{"ok" if ok else "false"}</start>\r\n'
            )
        return f'  <list count="{len(rows)}">\r\n{"".join(rows)}  </list>\r\n'

    def _start_one(self, pipe: _Pipeline, item: Element) -> bool:
        engine = pipe.engine
        if engine.state == "RUNNING":
            return False
        try:
            text = Path((item.text or "").strip()).read_text(encoding="utf-8")
            steps, limits, interval = parse_step_file(text)
        except (OSError, StepFileError):
            return False
        if any(
            s.kind in ("CC", "CV") and abs(s.a if s.kind == "CC" else s.b) > self.max_current
            for s in steps
        ):
            return False  # beyond the channel's range
        engine.reset()
        engine.steps = steps
        engine.limits.update(limits)
        engine.interval = interval
        test = _Test(self._next_testid, item.get("barcode", ""), engine.time)
        self._next_testid += 1
        pipe.begin(test)
        test.log.append((1, _LOG["start"], engine.time))
        engine.start()
        pipe.note_state(engine.time)
        return True

    def _pipe_for_download(self, root: Element, tag: str) -> tuple[_Pipeline | None, Element]:
        element = root.find(tag)
        if element is None:
            return None, Element(tag)
        return self._find(element), element

    def _download(self, command: str, root: Element) -> str:
        pipe, request = self._pipe_for_download(root, "download")
        test = pipe.test if pipe else None
        try:
            start, count = int(request.get("startpos", "0")), int(request.get("count", "0"))
        except ValueError:
            start, count = 0, 0
        records = pipe.records if pipe else []
        chosen = records[max(start, 1) - 1 : max(start, 1) - 1 + min(count, MAX_DOWNLOAD)]
        chosen = chosen if count > 0 else []
        head = (
            f'  <download devtype="{self.devtype}" devid="{request.get("devid", "")}" '
            f'subdevid="{request.get("subdevid", "")}" chlid="{request.get("chlid", "")}" '
            f'testid="{test.testid if test else 0}" startpos="{start}" count="{count}" '
            'auxid="0" />\r\n'
        )
        if not chosen:
            return head + '  <list count="0" />\r\n'
        assert pipe is not None and test is not None
        starts = pipe.runs()[1]
        rows = "".join(_data_row(record, starts, test, pipe.engine.steps) for record in chosen)
        return head + f'  <list count="{len(chosen)}">\r\n{rows}  </list>\r\n'

    def _downloadlog(self, command: str, root: Element) -> str:
        pipe, request = self._pipe_for_download(root, "download")
        test = pipe.test if pipe else None
        head = (
            f'  <download devtype="{self.devtype}" devid="{request.get("devid", "")}" '
            f'subdevid="{request.get("subdevid", "")}" chlid="{request.get("chlid", "")}" '
            f'testid="{test.testid if test else 0}" log_lever="0" />\r\n'
        )
        log = test.log if test else []
        rows = "".join(
            f'    <data seqid="{seqid}" log_code="{code}" atime="{_atime(when)}" />\r\n'
            for seqid, code, when in log
        )
        return head + f'  <list count="{len(log)}">\r\n{rows}  </list>\r\n'

    def _step_layer(self, command: str, root: Element) -> str:
        pipe, request = self._pipe_for_download(root, "downloadStepLayer")
        test = pipe.test if pipe else None
        head = (
            f'  <downloadStepLayer devtype="{self.devtype}" devid="{request.get("devid", "")}" '
            f'subdevid="{request.get("subdevid", "")}" chlid="{request.get("chlid", "")}" '
            f'testid="{test.testid if test else 0}" />\r\n'
        )
        if pipe is None or test is None:
            return head + '  <list count="0" />\r\n'
        records = pipe.records
        rows = []
        for number, (first, last) in enumerate(pipe.runs()[0], start=1):
            a, b = records[first], records[last]
            begin = records[first - 1][1] if first > 0 else 0.0
            kind = _step_type(pipe.engine.steps[a[3] - 1], a[4]) if a[3] else "rest"
            rows.append(
                f'    <data startseqid="{first + 1}" endseqid="{last + 1}" stepindex="{number}" '
                f'stepid="{a[3]}" cycleid="{a[2]}" steptype="{kind}" '
                f'steptime="{round((b[1] - begin) * 1000)}" '
                f'endatime="{_atime(test.started + b[1])}" startvolt="{a[5]!r}" '
                f'endvolt="{b[5]!r}" startcurr="{a[4]!r}" endcurr="{b[4]!r}" cap="{b[6]!r}" '
                f'eng="{b[7]!r}" dcir="0" />\r\n'
            )
        return head + f'  <list count="{len(rows)}">\r\n{"".join(rows)}  </list>\r\n'

    def _simfill(self, command: str, root: Element) -> str:
        request = root.find("fill")
        pipe = None if request is None else self._find(request)
        result = "false"
        if pipe is not None and request is not None and pipe.engine.state != "RUNNING":
            try:
                values = {name: float(request.get(name, "nan")) for name in FILL_FIELDS}
                spec = CellSpec(**values, initial_soc=0.0)
            except (SimulationError, ValueError):
                spec = None
            if spec is not None:
                channel = self._pipelines.index(pipe) + 1
                pipe.engine.cell = EquivalentCircuitCell(spec, seed=self._seed * 1000 + channel)
                result = "ok"
        held = ""
        if pipe is not None:
            spec_held = pipe.engine.cell.spec
            held = " ".join(f'{name}="{getattr(spec_held, name)!r}"' for name in FILL_FIELDS)
        return f"  <result>{result}</result>\r\n  <cell {held} />\r\n"


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")


def _atime(instrument_time: float) -> str:
    return (_EPOCH + timedelta(seconds=instrument_time)).strftime("%Y-%m-%d %H:%M:%S")


def _step_type(step: EngineStep | None, current: float) -> str:
    if step is None or step.kind == "REST":
        return "rest"
    if step.kind == "CC":
        return "cc" if step.a > 0 else "dc"
    return "cv" if current >= 0 else "dcv"


def _data_row(record: tuple, starts: list[float], test: _Test, steps: list[EngineStep]) -> str:
    index, time, cycle, step, current, voltage, capacity, energy, _temperature = record
    kind = _step_type(steps[step - 1], current) if step else "rest"
    return (
        f'    <data seqid="{index + 1}" stepid="{step}" cycleid="{cycle}" steptype="{kind}" '
        f'testtime="{round((time - starts[index]) * 1000)}" '
        f'atime="{_atime(test.started + time)}" volt="{voltage!r}" curr="{current!r}" '
        f'cap="{capacity!r}" eng="{energy!r}" />\r\n'
    )


def fill_over_api(api: NewareAPI, pipeline: str, spec: CellSpec) -> None:
    """Put a freshly filled cell made to `spec` on `pipeline` of a simulated BTS, over the
    simulator-only ``simfill`` command sent with aurora-neware's own `NewareAPI.command`.

    Raises `SimulationError` if the simulator refused (a working channel, values out of range,
    no such pipeline) or holds another cell afterwards. `spec.initial_soc` must be 0.
    """
    if spec.initial_soc != 0.0:
        raise SimulationError(
            f"initial SOC is {spec.initial_soc}; allowed: 0 (a freshly filled cell is discharged)"
        )
    try:
        devid, subdevid, chlid = (int(part) for part in pipeline.split("-"))
    except ValueError:
        raise SimulationError(f"pipeline {pipeline!r}; allowed: devid-subdevid-chlid") from None
    values = " ".join(f'{name}="{float(getattr(spec, name))!r}"' for name in FILL_FIELDS)
    reply = api.command(
        f'<cmd>simfill</cmd><fill devid="{devid}" subdevid="{subdevid}" chlid="{chlid}" {values} />'
    )
    root = ElementTree.fromstring(reply.encode("utf-8"))
    held = root.find("cell")
    if root.findtext("result") != "ok" or held is None:
        raise SimulationError(f"the simulated BTS refused simfill on {pipeline}")
    if any(float(held.get(name, "nan")) != float(getattr(spec, name)) for name in FILL_FIELDS):
        raise SimulationError(f"pipeline {pipeline} holds {held.attrib} after simfill")
