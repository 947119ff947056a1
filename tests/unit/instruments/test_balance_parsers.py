"""Property tests for the MT-SICS response parsers: valid answers parse back, junk is a fault."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from electroloop.errors import DeviceFault
from electroloop.instruments.balance import (
    BalanceLogicalError,
    BalanceNotReady,
    BalanceRangeError,
    BalanceSyntaxError,
    BalanceTransmissionError,
    parse_acknowledgement,
    parse_balance_data,
    parse_sics_level,
    parse_texts,
    parse_weight,
)
from electroloop.instruments.sim.balance import BalanceServer
from electroloop.instruments.sim.bench import SimulatedBench
from electroloop.models import Stock
from electroloop.simulations.conductivity import conductivity

UNITS = {"g": 1.0, "mg": 1e-3, "kg": 1e3}
# MT-SICS texts are 8-bit characters 32..255 (§2.1); the double quote delimits them.
TEXT = st.text(st.characters(min_codepoint=32, max_codepoint=255, exclude_characters='"'))
WORD = st.text(
    st.characters(min_codepoint=33, max_codepoint=126, exclude_characters='"'), min_size=1
)
# Replies built from MT-SICS's own alphabet reach deeper into the parsers than random text.
NEAR_MISS = st.text(st.sampled_from(list('SDIATL+-01234.56789 "gkmEI123@\r\n\t')), max_size=40)
JUNK = st.one_of(st.text(), NEAR_MISS)

PARSERS: dict[str, Callable[[str], object]] = {
    "weight": lambda line: parse_weight("S", line, ident="S", allowed="SD"),
    "tare": lambda line: parse_weight("TA", line, ident="TA", allowed="A"),
    "acknowledgement": lambda line: parse_acknowledgement("Z", line, ident="Z"),
    "texts": lambda line: parse_texts("I4", line, ident="I4"),
    "sics level": parse_sics_level,
    "balance data": parse_balance_data,
}


def _number(digits: int, decimals: int) -> str:
    return f"{Decimal(digits).scaleb(-decimals):f}"


@given(
    digits=st.integers(-(10**9), 10**9),
    decimals=st.integers(0, 6),
    unit=st.sampled_from(sorted(UNITS)),
    status=st.sampled_from("SD"),
)
def test_weight_answers_parse_back(digits: int, decimals: int, unit: str, status: str) -> None:
    value = _number(digits, decimals)
    reply = parse_weight("SI", f"S {status} {value:>10} {unit}", ident="S", allowed="SD")
    # The unit conversion is one multiplication: only its rounding may differ.
    assert reply.grams == pytest.approx(float(value) * UNITS[unit], rel=1e-12, abs=1e-12)
    assert reply.status == status and reply.stable == (status == "S")
    assert reply.resolution == pytest.approx(10.0**-decimals * UNITS[unit], rel=1e-12, abs=0.0)


@given(status=st.sampled_from("+-IL"), ident=st.sampled_from(["S", "T", "Z", "TA", "TAC"]))
def test_command_specific_errors_are_typed(status: str, ident: str) -> None:
    expected = {
        "+": BalanceRangeError,
        "-": BalanceRangeError,
        "I": BalanceNotReady,
        "L": BalanceLogicalError,
    }
    with pytest.raises(expected[status]):
        parse_weight(ident, f"{ident} {status}", ident=ident, allowed="SDA")
    with pytest.raises(expected[status]):
        parse_acknowledgement(ident, f"{ident} {status}", ident=ident)


@given(texts=st.lists(TEXT, min_size=1, max_size=5))
def test_quoted_texts_parse_back(texts: list[str]) -> None:
    line = "I4 A " + " ".join(f'"{text}"' for text in texts)
    assert parse_texts("I4", line, ident="I4") == tuple(texts)


@given(
    levels=st.text("0123", min_size=1, max_size=4), versions=st.lists(TEXT, min_size=4, max_size=4)
)
def test_sics_levels_parse_back(levels: str, versions: list[str]) -> None:
    line = f'I1 A "{levels}" ' + " ".join(f'"{version}"' for version in versions)
    level = parse_sics_level(line)
    assert level.levels == levels and level.versions == tuple(versions)


@given(
    model=st.lists(WORD, min_size=1, max_size=3).map(" ".join),
    digits=st.integers(1, 10**7),
    decimals=st.integers(0, 5),
    unit=st.sampled_from(sorted(UNITS)),
    apart=st.booleans(),
)
def test_balance_data_parses_back(
    model: str, digits: int, decimals: int, unit: str, apart: bool
) -> None:
    capacity = _number(digits, decimals)
    quoted = f'"{model}" "{capacity}" "{unit}"' if apart else f'"{model} {capacity} {unit}"'
    data = parse_balance_data(f"I2 A {quoted}")
    assert data.model == model
    # The unit conversion is one multiplication: only its rounding may differ.
    assert data.capacity == pytest.approx(float(capacity) * UNITS[unit], rel=1e-12, abs=0.0)


@pytest.mark.parametrize("name", sorted(PARSERS))
@given(line=JUNK)
def test_any_text_is_parsed_or_a_device_fault(name: str, line: str) -> None:
    try:
        PARSERS[name](line)
    except DeviceFault:
        pass


@pytest.mark.parametrize("name", sorted(PARSERS))
@pytest.mark.parametrize(
    ("code", "error"),
    [("ES", BalanceSyntaxError), ("ET", BalanceTransmissionError), ("EL", BalanceLogicalError)],
)
def test_general_errors_are_typed_by_every_parser(
    name: str, code: str, error: type[DeviceFault]
) -> None:
    with pytest.raises(error, match=code):
        PARSERS[name](f" {code}\r")


@pytest.fixture(scope="module")
def simulator() -> Iterator[BalanceServer]:
    stock = Stock(
        name="DMC", solvent="DMC", solvent_smiles="COC(=O)OC", density=1.07, initial_mass=1.0
    )
    with BalanceServer(SimulatedBench([stock], 25.0, conductivity, seed=0)) as server:
        yield server


@given(grams=st.floats(-1.0, 220.0), status=st.sampled_from("SD"))
def test_what_the_simulator_sends_parses_back(
    simulator: BalanceServer, grams: float, status: str
) -> None:
    line = simulator._format("S", status, grams)
    assert len(line) == len("S S ") + 10 + len(" g")  # the value is 10 characters wide
    reply = parse_weight("S", line, ident="S", allowed="SD")
    assert reply.grams == pytest.approx(grams, abs=0.5 * simulator.readability + 1e-9)
