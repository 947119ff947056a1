"""CALiSol-23 cleaning rules, each checked on the real file (../shared/data/calisol23)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest

from electroloop.simulations.calisol import (
    MIS_SCALED_SOURCE,
    SOLVENT_DENSITY,
    CalisolData,
    blend_density,
    load_calisol,
    molality_from_molarity,
)


@pytest.fixture(scope="module")
def data(shared_data: Path) -> CalisolData:
    return load_calisol(shared_data / "calisol23")


@pytest.fixture(scope="module")
def raw(shared_data: Path) -> list[dict[str, str]]:
    with (shared_data / "calisol23" / "calisol23.csv").open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_every_raw_row_is_kept_or_counted(data: CalisolData) -> None:
    assert data.raw_rows == 13825
    assert len(data.points) + sum(data.dropped.values()) == data.raw_rows


def test_mis_scaled_source_is_dropped(data: CalisolData) -> None:
    assert data.dropped["mis-scaled source"] == 23
    assert all(p.doi != MIS_SCALED_SOURCE for p in data.points)


def test_missing_and_negative_values_are_dropped(data: CalisolData) -> None:
    assert data.dropped["no conductivity"] == 523
    assert data.dropped["negative conductivity"] == 27
    assert all(p.conductivity >= 0.0 and p.molality > 0.0 for p in data.points)


def test_salt_spellings_are_merged(data: CalisolData, raw: list[dict[str, str]]) -> None:
    salts = {p.salt for p in data.points}
    assert "LiN(CF3SO2)2" not in salts and all(s == s.strip() for s in salts)
    raw_tfsi = [
        r
        for r in raw
        if r["salt"].strip() in {"LiTFSI", "LiN(CF3SO2)2"}
        and r["k"] != "NaN"
        and float(r["k"]) >= 0
    ]
    assert sum(p.salt == "LiTFSI" for p in data.points) == len(raw_tfsi) > 153
    # " LiBPFPB" (279 rows) and "LiBPFPB" (39) become one salt, dropped together (no molar mass)
    assert data.dropped["no property data for LiBPFPB"] == 279 + 39


def test_fractions_become_mass_fractions_summing_to_one(
    data: CalisolData, raw: list[dict[str, str]]
) -> None:
    for p in data.points:
        assert math.isclose(sum(w for _, w in p.fractions), 1.0, abs_tol=1e-9)
    volume_rows = [p for p in data.points if p.basis == "v" and p.solvents == {"EC", "EMC"}]
    raw_ratios = {
        float(r["EC"]) / float(r["EMC"])
        for r in raw
        if r["solvent ratio type"] == "v" and float(r["EC"]) > 0 and float(r["EMC"]) > 0
    }
    assert volume_rows and raw_ratios
    for p in volume_rows:
        # mass ratio / density ratio gives back the volume ratio written in the file
        volume_ratio = (
            p.fraction("EC") / p.fraction("EMC") * SOLVENT_DENSITY["EMC"] / SOLVENT_DENSITY["EC"]
        )
        # volume -> mass -> volume is the closed form and its inverse: rounding only
        assert any(math.isclose(volume_ratio, r, rel_tol=1e-12) for r in raw_ratios)
        assert p.fraction("EC") / p.fraction("EMC") > volume_ratio  # EC is the denser solvent


def test_molarity_rows_become_molality(data: CalisolData, raw: list[dict[str, str]]) -> None:
    molar = [p for p in data.points if p.unit == "mol/l"]
    assert len(molar) > 1500
    # 1 mol/L LiPF6 in EC:EMC 3:7 (w/w) is 1.20 g/mL (Kremer 2020): m = 1/(1.20 - 0.152) mol/kg
    blend = {"EC": 0.3, "EMC": 0.7}
    expected = 1.0 / (1.20 - 0.151903)
    assert molality_from_molarity(blend, "LiPF6", 1.0) == pytest.approx(expected, rel=0.01)
    assert blend_density(blend) == pytest.approx(1.085, abs=0.005)
    # in carbonates, molality exceeds molarity (solvent density > 1 minus salt volume < 1 L/kg)
    lipf6 = [p for p in molar if p.salt == "LiPF6" and p.solvents <= {"EC", "DMC", "EMC", "DEC"}]
    raw_c = {r["c"] for r in raw if r["c units"] == "mol/l"}
    assert lipf6 and raw_c
    assert all(0.9 < p.molality for p in lipf6 if p.molality > 0.9)


def test_temperatures_are_celsius(data: CalisolData) -> None:
    temps = [p.temperature for p in data.points]
    assert min(temps) == pytest.approx(194.15 - 273.15, abs=0.01)
    assert max(temps) < 205.0
