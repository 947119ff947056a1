"""One cycling protocol, every cycler's format: aurora-unicycler is the shared description.

A cell's phase is described once as an aurora-unicycler `CyclingProtocol` (MIT; Empa's
Aurora project: CC, CV, rest, loops, safety limits, record interval) and exported from there
to what each instrument loads: Neware BTS step XML (`neware_xml`), a BioLogic EC-Lab settings
file (`biologic_mps`), a PyBaMM experiment for the cell twin (`pybamm_experiment`), and the
step list of this project's SCPI cycler (`scpi_protocol`, docs/cycler_protocol.md).

A step one of them cannot run (an impedance sweep on a Neware or on the SCPI cycler, a loop
that does not return to the first step on the SCPI cycler, a voltage scan in PyBaMM) raises
`UnsupportedStep` naming the step and the target, so a campaign is refused before anything
moves (`check_exports`).

Units: this project's protocols are in A, V and s; they reach unicycler as C-rates of the
cell's capacity (it writes Neware's V x 10000, ms and mA itself), so the cell twin — a
different, larger cell (PyBaMM's Chen2020) — runs the same protocol scaled to its own capacity
(`kinds.cycling.spec.twin_protocol`). Charge current is positive on both sides.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from aurora_unicycler import (
    ConstantCurrent,
    ConstantVoltage,
    Loop,
    OpenCircuitVoltage,
    RecordParams,
    SafetyParams,
    SampleParams,
    Tag,
)
from aurora_unicycler import CyclingProtocol as UnicyclerProtocol
from pydantic import ValidationError

from electroloop.errors import ConfigError
from electroloop.instruments.cycler import ChannelLimits, CyclingProtocol, ProtocolStep

__all__ = [
    "TARGETS",
    "UnicyclerProtocol",
    "UnsupportedStep",
    "biologic_mps",
    "check_exports",
    "neware_xml",
    "pybamm_experiment",
    "scpi_protocol",
    "to_unicycler",
]

CYCLE_TAG = "cycle"
"""The tag the loop of a repeated cycle returns to."""
CURRENT_MARGIN = 1.05
"""The hardware current limit sits 5 % above the chemistry's, as `MultichannelCycler.load`."""
TARGETS = {
    "scpi": "the SCPI cycler (electroloop-cycler)",
    "neware": "a Neware BTS",
    "biologic": "BioLogic EC-Lab",
    "pybamm": "the PyBaMM cell twin",
}
"""What `check_exports` can export to, and how an error names it."""


class UnsupportedStep(ConfigError):
    """A protocol step that a cycler's format (or the cell twin) cannot express."""

    def __init__(self, target: str, step: str, why: str) -> None:
        self.target, self.step = target, step
        super().__init__(f"{step} cannot run on {TARGETS.get(target, target)}: {why}")


def _c_rate(current: float, capacity_ah: float) -> float:
    """`current` A as a C-rate, to 12 significant digits (no float noise in PyBaMM's text)."""
    return float(f"{current / capacity_ah:.12g}")


def _describe(number: int, step: object) -> str:
    return f"step {number} ({getattr(step, 'step', type(step).__name__)})"


def to_unicycler(
    protocol: CyclingProtocol, *, limits: ChannelLimits, capacity_ah: float, sample: str = "cell"
) -> UnicyclerProtocol:
    """`protocol` as an aurora-unicycler protocol, with the chemistry's safety limits (widened
    by `limits.safety_margin` V and 5 % of current, as the SCPI cycler's hardware limits)."""
    method: list[object] = []
    if protocol.cycles > 1:
        method.append(Tag(tag=CYCLE_TAG))
    last_current = 1.0
    for step in protocol.steps:
        if step.kind == "cc":
            last_current = step.current
            method.append(
                ConstantCurrent(
                    rate_C=_c_rate(step.current, capacity_ah),
                    until_voltage_V=step.voltage,
                    until_time_s=step.duration,
                )
            )
        elif step.kind == "cv":
            sign = 1.0 if last_current > 0 else -1.0  # a CV after a discharge holds a discharge
            method.append(
                ConstantVoltage(
                    voltage_V=step.voltage,
                    until_rate_C=sign * _c_rate(step.cutoff_current, capacity_ah),
                    until_time_s=step.duration,
                )
            )
        else:
            method.append(OpenCircuitVoltage(until_time_s=step.duration))
    if protocol.cycles > 1:
        if len(protocol.steps) < 2:  # unicycler's loop cannot close on the step it opens
            raise ConfigError(
                f"a protocol repeated {protocol.cycles} times needs at least two steps"
            )
        method.append(Loop(loop_to=CYCLE_TAG, cycle_count=protocol.cycles))
    margin = limits.safety_margin
    current_ma = limits.max_current * CURRENT_MARGIN * 1000.0
    return UnicyclerProtocol(
        sample=SampleParams(name=sample, capacity_mAh=capacity_ah * 1000.0),
        record=RecordParams(time_s=protocol.record_interval),
        safety=SafetyParams(
            max_voltage_V=limits.max_voltage + margin,
            min_voltage_V=limits.min_voltage - margin,
            max_current_mA=current_ma,
            min_current_mA=-current_ma,
        ),
        method=method,
    )


def _current_ma(step: ConstantCurrent, capacity_mah: float | None, where: str) -> float:
    if step.rate_C:
        if capacity_mah is None:
            raise UnsupportedStep("scpi", where, "a C-rate needs the sample's capacity")
        return step.rate_C * capacity_mah
    assert step.current_mA is not None  # unicycler ensures one of the two
    return step.current_mA


def scpi_protocol(protocol: UnicyclerProtocol, *, limits: ChannelLimits) -> CyclingProtocol:
    """An aurora-unicycler protocol as the SCPI cycler's step list (docs/cycler_protocol.md).

    That format has CC, CV and rest steps and one loop over every step, so a tag may only
    open the method and a loop only close it; a CC without a voltage cut-off stops at the
    chemistry's limit in its direction.
    """
    capacity = protocol.sample.capacity_mAh
    steps: list[ProtocolStep] = []
    cycles = 1
    method = list(protocol.method)
    for number, step in enumerate(method, start=1):
        where = _describe(number, step)
        last = number == len(method)
        try:
            if isinstance(step, Tag):
                if number != 1:
                    raise UnsupportedStep("scpi", where, "a tag may only open the method")
            elif isinstance(step, Loop):
                back_to_start = step.loop_to in (1, CYCLE_TAG) or (
                    isinstance(method[0], Tag) and step.loop_to == method[0].tag
                )
                if not (last and back_to_start):
                    raise UnsupportedStep(
                        "scpi", where, "its one loop must close the method and return to step 1"
                    )
                cycles = step.cycle_count
            elif isinstance(step, ConstantCurrent):
                current = _current_ma(step, capacity, where) / 1000.0
                stop = step.until_voltage_V or (
                    limits.max_voltage if current > 0 else limits.min_voltage
                )
                steps.append(ProtocolStep.cc(current, stop, step.until_time_s))
            elif isinstance(step, ConstantVoltage):
                if step.until_rate_C:
                    if capacity is None:
                        raise UnsupportedStep("scpi", where, "a C-rate needs the capacity")
                    cutoff_ma = abs(step.until_rate_C) * capacity
                elif step.until_current_mA:
                    cutoff_ma = abs(step.until_current_mA)
                else:
                    raise UnsupportedStep("scpi", where, "a CV step needs a cut-off current")
                steps.append(ProtocolStep.cv(step.voltage_V, cutoff_ma / 1000.0, step.until_time_s))
            elif isinstance(step, OpenCircuitVoltage):
                steps.append(ProtocolStep.rest(step.until_time_s))
            else:
                raise UnsupportedStep("scpi", where, "the SCPI cycler has CC, CV and rest only")
        except ConfigError as exc:
            if isinstance(exc, UnsupportedStep):
                raise
            raise UnsupportedStep("scpi", where, str(exc)) from None
    return CyclingProtocol(tuple(steps), cycles=cycles, record_interval=protocol.record.time_s)


def _export(target: str, protocol: UnicyclerProtocol, convert: object) -> object:
    """Run one of unicycler's exporters, turning its refusals into `UnsupportedStep`."""
    try:
        return convert()  # type: ignore[operator]
    except NotImplementedError as exc:
        kind = str(exc).rsplit(":", 1)[-1].strip()
        numbers = [n for n, s in enumerate(protocol.method, 1) if getattr(s, "step", "") == kind]
        where = f"step {numbers[0]} ({kind})" if numbers else f"a {kind} step"
        raise UnsupportedStep(target, where, "its format has no such step") from None
    except (ValueError, ValidationError, RuntimeError) as exc:
        raise UnsupportedStep(target, _culprit(protocol, str(exc)), str(exc)) from None


def _step_ma(step: object, capacity_mah: float | None) -> float | None:
    """|current| in mA a CC step drives (None for other steps, or a C-rate without capacity)."""
    if not isinstance(step, ConstantCurrent):
        return None
    if step.rate_C:
        return abs(step.rate_C) * capacity_mah if capacity_mah else None
    return abs(step.current_mA or 0.0)


def _culprit(protocol: UnicyclerProtocol, message: str) -> str:
    """The step an exporter's refusal is about, where its message names a current or a
    voltage range (BioLogic's "I range not supported for -2000.0 mA", "voltage outside of
    range ((0.0, 5.0) V)"); "the protocol" otherwise."""
    steps = list(enumerate(protocol.method, 1))
    if match := re.search(r"for (-?[\d.]+) mA", message):
        wanted = abs(float(match[1]))
        for number, step in steps:
            current = _step_ma(step, protocol.sample.capacity_mAh)
            if current is not None and math.isclose(current, wanted, rel_tol=1e-6):
                return _describe(number, step)
    if match := re.search(r"\((-?[\d.]+), (-?[\d.]+)\) V", message):
        low, high = sorted((float(match[1]), float(match[2])))
        for number, step in steps:
            volts = getattr(step, "until_voltage_V", None) or getattr(step, "voltage_V", None)
            if volts is not None and not low <= volts <= high:
                return _describe(number, step)
    return "the protocol"


def neware_xml(
    protocol: CyclingProtocol, *, limits: ChannelLimits, capacity_ah: float, sample: str = "cell"
) -> str:
    """The Neware BTS step file (XML, as BTS 8 loads it) for `protocol`."""
    unicycler = to_unicycler(protocol, limits=limits, capacity_ah=capacity_ah, sample=sample)
    return str(_export("neware", unicycler, lambda: unicycler.to_neware_xml(sample_name=sample)))


def biologic_mps(
    protocol: CyclingProtocol, *, limits: ChannelLimits, capacity_ah: float, sample: str = "cell"
) -> str:
    """The BioLogic EC-Lab settings file (.mps, ModuloBatt technique) for `protocol`."""
    unicycler = to_unicycler(protocol, limits=limits, capacity_ah=capacity_ah, sample=sample)
    return str(
        _export("biologic", unicycler, lambda: unicycler.to_biologic_mps(sample_name=sample))
    )


def pybamm_experiment(protocol: UnicyclerProtocol) -> list[str]:
    """The PyBaMM experiment steps (loops unrolled) the cell twin runs for `protocol`."""
    return list(_export("pybamm", protocol, protocol.to_pybamm_experiment))  # type: ignore[call-overload]


def check_exports(
    protocol: UnicyclerProtocol, targets: Sequence[str], *, limits: ChannelLimits
) -> None:
    """Export `protocol` to every target; the first that cannot express a step raises
    `UnsupportedStep` (call it before anything moves)."""
    for target in targets:
        if target not in TARGETS:
            raise ConfigError(f"export target {target!r}; allowed: {', '.join(TARGETS)}")
        if target == "scpi":
            scpi_protocol(protocol, limits=limits)
        elif target == "neware":
            _export("neware", protocol, lambda: protocol.to_neware_xml(sample_name="check"))
        elif target == "biologic":
            _export("biologic", protocol, lambda: protocol.to_biologic_mps(sample_name="check"))
        else:
            pybamm_experiment(protocol)
