"""MettlerToledoBalance against the MT-SICS simulator over loopback TCP, and replayed traffic."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from electroloop.errors import InstrumentTimeout
from electroloop.instruments.balance import (
    BalanceBusyError,
    BalanceIdentity,
    BalanceLogicalError,
    BalanceRangeError,
    MettlerToledoBalance,
)
from electroloop.instruments.sim.balance import BalanceServer
from electroloop.instruments.sim.bench import SimulatedBench
from electroloop.instruments.sim.clock import SimClock
from electroloop.instruments.transport import ReplayResource, query
from electroloop.simulations.conductivity import conductivity
from tests.floats import SAME_COMPUTATION, assert_close

T = MettlerToledoBalance.TERMINATIONS


@pytest.fixture
def bench(stocks) -> SimulatedBench:
    return SimulatedBench(stocks, 25.0, conductivity, seed=5)


@pytest.fixture
def slow_settling(bench) -> Iterator[BalanceServer]:
    """A balance on a 10x clock that settles 3 s (0.3 s wall) after the load changes."""
    clock = SimClock(10.0)
    with BalanceServer(bench, clock=clock, settle_time=3.0, stability_timeout=10.0) as server:
        yield server
    clock.stop()


def test_weighs_the_bench_vial(lab, connect) -> None:
    scale = MettlerToledoBalance(connect(lab.balance_resource, T, instrument="balance"))
    assert scale.serial_number() == "B000000007"
    gross = lab.bench.gross_load()
    assert scale.weight() == pytest.approx(gross, abs=0.0006)
    assert scale.tare() == pytest.approx(gross, abs=0.0006)
    assert scale.tare_weight() == pytest.approx(gross, abs=0.0006)
    assert scale.weight() == pytest.approx(0.0, abs=0.0006)
    lab.bench.deliver("EC", 1.0)
    assert scale.weight() == pytest.approx(1.32, abs=0.0006)
    scale.zero()
    assert scale.tare_weight() == 0.0  # zeroing clears the tare memory
    assert scale.weight() == pytest.approx(0.0, abs=0.0006)
    assert scale.reset() == "B000000007"


def test_identity_over_loopback(lab, connect) -> None:
    scale = MettlerToledoBalance(connect(lab.balance_resource, T))
    assert scale.identity() == BalanceIdentity(
        model="XS204",
        capacity=220.0,
        serial="B000000007",
        software="2.10 10.28.0.493.142",
        levels="01",
    )
    assert scale.sics_level().versions == ("2.20", "2.20", "", "")


def test_tare_memory_preset_read_back_and_clear(lab, connect) -> None:
    scale = MettlerToledoBalance(connect(lab.balance_resource, T), capacity=300.0)
    gross = lab.bench.gross_load()
    # Rounded to 0.1 mg by the balance; the driver parses its reply "5.0000 g" unchanged.
    assert scale.set_tare_weight(5.00004) == 5.0
    assert scale.weight() == pytest.approx(gross - 5.0, abs=0.0006)
    scale.clear_tare()
    assert scale.tare_weight() == 0.0
    assert scale.weight() == pytest.approx(gross, abs=0.0006)
    with pytest.raises(BalanceLogicalError, match="TA L"):
        scale.set_tare_weight(250.0)  # the driver allows 300 g; the 220 g balance refuses
    scale.tare()
    assert scale.reset() == "B000000007"
    assert scale.tare_weight() == 0.0  # "@" returns to the switch-on state: no tare


def test_unstable_right_after_dosing_then_stable(slow_settling, bench, connect) -> None:
    scale = MettlerToledoBalance(connect(slow_settling.resource_name, T))
    scale.weight()  # the vial placed when the bench was made has settled
    assert scale.reading(stable=False).stable
    bench.deliver("EC", 1.0)
    dynamic = scale.reading(stable=False)
    assert not dynamic.stable and dynamic.status == "D"
    assert dynamic.grams == pytest.approx(bench.gross_load(), abs=0.02)
    start = time.monotonic()
    settled = scale.reading()  # "S" waits until the load has settled
    assert 0.15 < time.monotonic() - start < 1.5
    assert settled.stable and settled.grams == pytest.approx(bench.gross_load(), abs=0.0006)
    assert scale.reading(stable=False).stable


def test_a_vial_swap_unsettles_the_reading(slow_settling, bench, connect) -> None:
    scale = MettlerToledoBalance(connect(slow_settling.resource_name, T))
    scale.weight()
    slow_settling.settle_time = 30.0  # instrument s (3 s wall): the swap cannot settle here
    bench.present_fresh_vial()
    assert not scale.reading(stable=False).stable
    slow_settling.stability_timeout = 0.5  # instrument s
    scale.retries, scale.retry_delay = 1, 0.0
    with pytest.raises(BalanceBusyError, match="'T I' 2 times"):
        scale.tare()


def test_overload_underload_and_instability(lab, connect) -> None:
    scale = MettlerToledoBalance(connect(lab.balance_resource, T), capacity=220.0)
    lab.balance.capacity = 5.0  # the 12 g vial now overloads the simulated balance
    for call in (scale.weight, scale.tare, scale.zero):
        with pytest.raises(BalanceRangeError, match="overload"):
            call()
    lab.balance.capacity = 220.0
    lab.balance.zero_point = lab.bench.gross_load() + 5.0  # as if the pan were lifted off
    with pytest.raises(BalanceRangeError, match="underload"):
        scale.weight(stable=False)
    lab.balance.zero_point = 0.0
    lab.balance.stability_timeout = 0.001
    lab.balance.settle_time = 10.0
    lab.bench.deliver("EC", 0.5)
    assert scale.weight(stable=False) == pytest.approx(lab.bench.gross_load(), abs=0.05)
    scale.retries, scale.retry_delay = 1, 0.0
    with pytest.raises(InstrumentTimeout):
        scale.weight()


def test_answers_what_it_does_not_understand_as_the_manual_says(lab, connect) -> None:
    resource = connect(lab.balance_resource, T)

    def ask(line: str) -> str:
        return query(resource, line, instrument="balance")

    assert ask("XYZ") == "ES"
    assert ask("s") == "ES"  # commands are upper case
    assert ask("S\x03") == "ET"
    assert ask("S 5") == "S L"
    assert ask("TA 5 lb") == "TA L"
    assert ask("TA -1 g") == "TA L"
    assert ask("TA 5000 mg") == "TA A     5.0000 g"
    assert ask("I2") == 'I2 A "XS204 220.0000 g"'
    assert ask('D "vial-0001"') == "D A" and lab.balance.display == "vial-0001"
    assert ask("D vial") == "D L"
    assert ask("DW") == "DW A" and lab.balance.display == ""


def test_display_text(lab, connect) -> None:
    scale = MettlerToledoBalance(connect(lab.balance_resource, T))
    scale.display_text("dosing EC")
    assert lab.balance.display == "dosing EC"
    scale.display_weight()
    assert lab.balance.display == ""


def _session(scale: MettlerToledoBalance, before_weighing: Callable[[], None]) -> list[object]:
    results: list[object] = [scale.identity(), scale.zero(), scale.set_tare_weight(3.25)]
    before_weighing()
    results += [
        scale.weight(),
        scale.reading(stable=False),
        scale.clear_tare(),
        scale.tare(),
        scale.weight(),
        scale.reset(),
    ]
    return results


def test_a_recorded_session_replays_to_the_same_results(lab, connect) -> None:
    recorded = connect(lab.balance_resource, T, instrument="balance")
    scale = MettlerToledoBalance(recorded)
    live = _session(scale, lambda: lab.balance.inject("S I"))  # a busy answer, then a retry
    transcript = recorded.take()
    assert transcript.text.count("< S I\n") == 1
    replay = ReplayResource(transcript)
    # Weights are parsed in g, but each reading's resolution is computed (10**-decimals g).
    replayed = _session(MettlerToledoBalance(replay, retry_delay=0.0), lambda: None)
    assert_close(replayed, live, **SAME_COMPUTATION)
    assert replay.remaining == 0
    changed = MettlerToledoBalance(ReplayResource(transcript))
    with pytest.raises(AssertionError, match="driver sent 'I4'"):
        changed.serial_number()  # the recording starts with I2: the traffic changed
