"""A campaign on a bench whose balance is not simulated: the instruments run as a separate
process (`electroloop sim up`) and are named by their VISA addresses, as real ones would be, so
no simulated bench can move vials. A technician does (manual steps), and each move, vial label,
stock lot and bottle level lands in the event log."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from electroloop.errors import ConfigError
from electroloop.kinds.electrolyte.campaign import ElectrolyteCampaign, default_campaign
from electroloop.kinds.registry import parse_campaign
from electroloop.orchestrator.closed_loop import ManualStep
from electroloop.samples import BALANCE, METER
from electroloop.settings import Settings, default_lab_text, load_lab
from electroloop.simulations.optimum import true_value
from electroloop.workflows.build import assemble
from tests.integration.served import sim_up

LOTS = {"EC": "EC-2611-A", "LiPF6-EC": "LPF-0042"}


@pytest.fixture(scope="module")
def bench_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A lab file naming instruments served by another process (the lab's lots included)."""
    folder = tmp_path_factory.mktemp("bench")
    source = folder / "lab.toml"
    lots = "".join(f'"{stock}" = "{lot}"\n' for stock, lot in LOTS.items())
    source.write_text(
        default_lab_text().replace("[balance]", f"[stock_lots]\n{lots}\n[balance]", 1),
        encoding="utf-8",
    )
    with sim_up(source, folder / "lab.local.toml") as written:
        yield written


def campaign(lab: Path, budget: int) -> ElectrolyteCampaign:
    data = default_campaign().model_dump(mode="json")
    data |= {"planner": "sobol", "budget": budget, "batch_size": 1, "lab": str(lab)}
    return parse_campaign(data, "test")


def test_a_real_balance_address_passes_validation_and_a_technician_moves_the_vials(
    bench_lab: Path, tmp_path: Path
) -> None:
    lab = load_lab(bench_lab)
    assert not lab.balance.simulated and lab.balance.address.startswith("TCPIP::127.0.0.1::")
    asked: list[ManualStep] = []

    def technician(step: ManualStep) -> dict[str, float]:
        asked.append(step)
        return {}

    spec = campaign(bench_lab, budget=2)
    with assemble(spec, Settings(home=tmp_path), "bench", [], manual=technician) as parts:
        assert parts.simulator is not None and not parts.simulator.servers  # nothing in-process
        state = parts.campaign.run()
    assert len(state.observations) == 2 and not state.failures
    first, second = (state.candidates[c] for c in state.trial_index)
    vial = state.dosings[first.id].vial
    assert vial is not None and vial.startswith("EL-") and state.vial_of(first.id) == vial
    moves = state.vials[vial].moves
    # A bench reached by address may be shared: the dosed vial waits in its slot for the meter.
    assert [(m.source, m.target) for m in moves] == [
        ("rack-1:A1", BALANCE),
        (BALANCE, "rack-1:A1"),
        ("rack-1:A1", METER),
        (METER, "rack-1:A1"),
    ]
    assert {m.by for m in moves} == {"technician"}
    # Each move was a manual step naming the vial and both places, before anything was dosed.
    assert [step.title for step in asked[:4]] == [
        f"Move vial {vial} to the balance",
        f"Move vial {vial} to the rack-1:A1",
        f"Move vial {vial} to the meter",
        f"Move vial {vial} to the rack-1:A1",
    ]
    assert "rack-1:A1" in asked[0].instructions and len(asked) == 8
    assert state.vial_of(second.id) != vial and state.vials[state.vial_of(second.id)].slot == (
        "rack-1:A2"
    )
    # The first sample was really dosed and measured by the other process' instruments:
    # the meter's ±0.5 % and the balance's weighing error, nothing more, separate it from the
    # physics at the weighed formulation.
    dosing = state.dosings[first.id]
    measured = state.observations[first.id].values["conductivity"]
    assert measured == pytest.approx(true_value(spec.space, dosing.as_dosed), rel=0.02)
    assert dosing.lots == {s: lot for s, lot in LOTS.items() if s in dosing.dosed_masses}
    later = state.dosings[second.id]
    for stock in set(dosing.dosed_masses) & set(later.dosed_masses):
        # the station's bookkeeping: the second dose leaves the bottle lighter by what it weighed
        assert later.remaining[stock] == pytest.approx(
            dosing.remaining[stock] - later.dosed_masses[stock], abs=1e-9
        )


def test_a_real_balance_with_no_one_to_move_vials_is_refused_before_anything_moves(
    bench_lab: Path, tmp_path: Path
) -> None:
    settings = Settings(home=tmp_path)
    with pytest.raises(ConfigError, match=r"balance\.address: .*technician"):
        with assemble(campaign(bench_lab, budget=1), settings, "alone", []):
            pass
    assert not settings.store_path.exists()  # refused before the event log was even opened
