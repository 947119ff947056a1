"""Keithley2450 under every injected fault: the typed error, or the recovery."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

import pytest

from electroloop.errors import DeviceFault, InstrumentTimeout
from electroloop.instruments.sim.clock import SimClock
from electroloop.instruments.sim.server import Fault, FaultRule
from electroloop.instruments.sim.smu import SmuServer
from electroloop.instruments.smu import CellLimits, Keithley2450, SmuError
from electroloop.instruments.transport import (
    ReconnectingResource,
    RecordingResource,
    open_resource,
)
from electroloop.simulations.cell_circuit import CellSpec

C = 0.005


@pytest.fixture
def rig() -> Iterator[tuple[SmuServer, Keithley2450, ReconnectingResource]]:
    """A simulator with a half-charged cell and a reset driver on a reconnecting link."""
    clock = SimClock(speedup=20000.0)
    with SmuServer(CellSpec(initial_soc=0.5), clock=clock, seed=2) as server:
        opener = partial(
            open_resource, server.resource_name, timeout=0.5, **Keithley2450.TERMINATIONS
        )
        link = ReconnectingResource(opener)
        smu = Keithley2450(
            RecordingResource(link, "smu"),
            limits=CellLimits(max_current=0.01),
            clock=clock,
        )
        smu.reset()
        smu.set_source_function("CURR")
        smu.set_sense_function("VOLT")
        try:
            yield server, smu, link
        finally:
            smu.close()


def test_silent_reading_is_a_timeout_and_one_lost_poll_is_tolerated(rig) -> None:
    server, smu, _ = rig
    server.inject(Fault.SILENT)
    with pytest.raises(InstrumentTimeout):
        smu.read()
    smu.read()  # the link is fine again
    server.schedule(FaultRule(Fault.SILENT, after=server.commands + 12))
    run = smu.charge_cc_cv(C, 4.0, C / 2, timeout=6 * 3600.0, poll_interval=60.0)
    assert run.readings[-1].current <= C / 2  # finished despite the lost poll
    assert "Timeout" in smu.resource.take().text  # type: ignore[attr-defined]


def test_garbage_reading_is_a_device_fault_and_a_garbled_read_back_is_resent(rig) -> None:
    server, smu, _ = rig
    server.inject(Fault.GARBAGE)
    with pytest.raises(DeviceFault, match="garbage"):
        smu.read()
    server.inject(Fault.GARBAGE)
    smu.set_current(1e-3)  # the read-back was garbled; sent again, then confirmed
    assert server.levels["CURR"] == 1e-3  # parsed by the simulator from the command: a copy


def test_dropped_connection_reconnects_and_the_setting_is_sent_again(rig) -> None:
    server, smu, link = rig
    server.inject(Fault.DISCONNECT)
    smu.set_voltage_limit(4.1)  # lost with the link; reopened, re-sent, read back
    assert server.voltage_limit == 4.1
    assert link.reconnects == 1
    server.inject(Fault.DISCONNECT)
    try:
        smu.read()  # re-sent on a new link if the drop shows as a reset...
    except InstrumentTimeout:
        pass  # ...typed if pyvisa-py sees the peer's close as a timeout
    assert smu.read().voltage > 3.0  # either way the next reading works on the new link
    assert link.reconnects == 2


def test_instrument_error_is_read_from_the_queue(rig) -> None:
    server, smu, _ = rig
    server.inject(Fault.ERROR)
    with pytest.raises(SmuError, match="-200") as error:
        smu.set_current(2e-3)
    assert error.value.errors == [(-200, "Execution error")]
    assert server.levels["CURR"] == 0.0  # not executed


def test_stuck_trigger_ends_the_run_with_a_timeout_and_the_output_off(rig) -> None:
    server, smu, _ = rig
    server.schedule(FaultRule(Fault.STUCK_BUSY, after=server.commands + 12))
    with pytest.raises(InstrumentTimeout):
        smu.charge_cc_cv(C, 4.2, C / 20, timeout=6 * 3600.0, poll_interval=60.0)
    assert server.stuck_busy
    assert server.output is False  # *OPC?/READ? hang, but OUTP OFF still works


def test_drifting_readings_stop_the_run_outside_the_cell_window(rig) -> None:
    server, smu, _ = rig
    server.drift_per_command = 0.01  # +1 % per command once the fault fires
    server.schedule(FaultRule(Fault.DRIFT, after=server.commands + 12))
    with pytest.raises(DeviceFault, match="outside the cell's window"):
        smu.charge_cc_cv(C, 4.2, C / 20, timeout=6 * 3600.0, poll_interval=60.0)
    # The fault fired and the readings drifted (by how many commands depends on how much
    # simulated time passed meanwhile: the clock runs 20000x the wall's, loaded or not).
    assert server.drift >= 0.02
    assert server.output is False
