"""The bad-input corpus: campaign and lab files a user may really write, each refused with an
error that names the field (or the file) before anything moves.

Each case is an edit of the example campaign (or lab) file and a pattern its error must match.
Reading a file starts nothing, so a refusal here is by construction before any simulator,
Prefect server, MLflow run or event; the command-line cases check that nothing was written.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from electroloop.cli import main
from electroloop.errors import ConfigError, ElectroloopError
from electroloop.kinds.registry import load_campaign
from electroloop.settings import load_lab

REPO = Path(__file__).resolve().parents[2]
CAMPAIGN = (REPO / "examples/campaigns/conductivity.toml").read_text(encoding="utf-8")
LAB = (REPO / "examples/labs/lab.sim.toml").read_text(encoding="utf-8")
BENCH = (REPO / "examples/labs/lab.bench.toml").read_text(encoding="utf-8")
SOLVENT = '\n[[solvents]]\nname = "{name}"\nsmiles = "{smiles}"\nmax_fraction = 0.3\n'


def refusal(read: Callable[[Path], object], path: Path, content: str | bytes) -> str:
    """The ConfigError `read` gives for a file holding `content` (the test fails without one)."""
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        read(path)
    return str(info.value)


def edit(old: str, new: str) -> str:
    assert old in CAMPAIGN, old
    return CAMPAIGN.replace(old, new, 1)


CAMPAIGN_CASES: dict[str, tuple[str | bytes, str]] = {
    # types and ranges
    "budget as text": (
        edit("budget = 24", 'budget = "twenty"'),
        r"budget: Input should be a valid",
    ),
    "budget zero": (edit("budget = 24", "budget = 0"), r"budget: .*greater than or equal to 1"),
    "budget huge": (edit("budget = 24", "budget = 10000000"), r"budget: .*less than or equal"),
    "batch too big": (edit("batch_size = 4", "batch_size = 17"), r"batch_size: .*16"),
    "batch over budget": (edit("budget = 24", "budget = 2"), r"batch_size 4 exceeds budget 2"),
    "negative seed": (edit("seed = 7", "seed = -1"), r"seed: .*greater than or equal to 0"),
    "seed as float": (edit("seed = 7", "seed = 7.5"), r"seed: "),
    "temperature NaN": (edit("temperature = 25.0", "temperature = nan"), r"temperature: "),
    "temperature inf": (edit("temperature = 25.0", "temperature = inf"), r"temperature: "),
    "temperature in K": (edit("temperature = 25.0", "temperature = 298.15"), r"temperature: "),
    "temperature as text": (edit("temperature = 25.0", 'temperature = "25 C"'), r"temperature"),
    "molality negative": (edit("min_molality = 0.5", "min_molality = -0.5"), r"min_molality"),
    "molality inverted": (edit("min_molality = 0.5", "min_molality = 3.0"), r"molality"),
    "molality NaN": (edit("max_molality = 2.0", "max_molality = nan"), r"max_molality"),
    "fraction above 1": (edit("max_fraction = 0.6", "max_fraction = 1.5"), r"max_fraction"),
    "fraction negative": (edit("min_fraction = 0.1", "min_fraction = -0.1"), r"min_fraction"),
    "fractions cannot sum to 1": (
        CAMPAIGN.replace("max_fraction = 0.9", "max_fraction = 0.1"),
        r"sum",
    ),
    "fraction as percent": (edit("max_fraction = 0.6", "max_fraction = 60"), r"max_fraction"),
    # names and text
    "unknown key": (edit("seed = 7", "seed = 7\nbudgte = 3"), r"budgte: unknown key"),
    "name with slash": (edit('name = "conductivity-demo"', 'name = "../x"'), r"name: "),
    "name empty": (edit('name = "conductivity-demo"', 'name = ""'), r"name: "),
    "name too long": (edit('name = "conductivity-demo"', f'name = "{"a" * 81}"'), r"name: "),
    "study traversal": (
        edit('study = "electrolyte-conductivity"', 'study = "../../outside"'),
        r"study: ",
    ),
    "study with NUL": (
        edit('study = "electrolyte-conductivity"', 'study = "a\\u0000b"'),
        r"study: ",
    ),
    "study newline": (
        edit('study = "electrolyte-conductivity"', 'study = "a\\nb"'),
        r"study: ",
    ),
    "description 10 MB": (
        edit('description = "Maximise', f'description = "{"x" * 10_000_000}" # "'),
        r"description: .*at most 10000 characters",
    ),
    "description NUL": (
        edit('description = "Maximise', 'description = "a\\u0000b" # "'),
        r"description: ",
    ),
    # planner and lab
    "planner unknown form": (edit('planner = "ax"', 'planner = "ax; rm -rf /"'), r"planner: "),
    "planner empty": (edit('planner = "ax"', 'planner = ""'), r"planner: "),
    "lab not toml": (edit('lab = "simulated"', 'lab = "bench.yaml"'), r"lab: .*allowed"),
    # chemistry
    "bad SMILES": (edit('smiles = "COC(=O)OC"', 'smiles = "C1CC("'), r"smiles"),
    "duplicate solvent": (
        CAMPAIGN + SOLVENT.format(name="EC", smiles="C1COC(=O)O1"),
        r"EC",
    ),
    "one solvent only": (
        CAMPAIGN.split("[[solvents]]")[0]
        + "[[solvents]]"
        + CAMPAIGN.split("[[solvents]]")[1]
        + "[salt]"
        + CAMPAIGN.split("[salt]")[1],
        r"solvents: ",
    ),
    "water with LiPF6": (CAMPAIGN + SOLVENT.format(name="water", smiles="O"), r"hf-hazard"),
    "methanol with LiPF6": (CAMPAIGN + SOLVENT.format(name="MeOH", smiles="CO"), r"hf-hazard"),
    "near DMC's boiling point": (
        edit("temperature = 25.0", "temperature = 80.0"),
        r"near-boiling: .*DMC",
    ),
    "override without reason": (
        CAMPAIGN
        + SOLVENT.format(name="water", smiles="O")
        + '\n[[safety_overrides]]\nrule = "hf-hazard"\nby = "Ada Lovelace"\n',
        r"safety_overrides\.0\.reason: required",
    ),
    "override of no rule": (
        CAMPAIGN
        + '\n[[safety_overrides]]\nrule = "x"\nby = "Ada Lovelace"\nreason = "because I can"\n',
        r"unknown rules \['x'\]",
    ),
    # objectives
    "unknown metric": (edit('name = "conductivity"  ', 'name = "colour"  '), r"unknown metrics"),
    "direction typo": (edit('direction = "maximize"', 'direction = "maximise"'), r"direction"),
    # the file itself
    "not UTF-8": (CAMPAIGN.encode("utf-8").replace(b"25 \xc2\xb0C", b"25 \xb0C"), r"not UTF-8"),
    "not TOML": ("budget = = 3", r"not valid TOML"),
    "binary": (bytes(range(256)), r"not UTF-8|not valid TOML"),
    "empty": ("", r"required but missing"),
    # more shapes of the same mistakes
    "no objectives": (
        edit("[[objectives]]", "objectives = []\n[[nothing]]"),
        r"objectives|nothing",
    ),
    "five objectives": (
        CAMPAIGN + '\n[[objectives]]\nname = "cost"\n' * 4,
        r"objectives: .*at most 4",
    ),
    "constraint on unknown metric": (
        CAMPAIGN + '\n[[outcome_constraints]]\nmetric = "colour"\nop = ">="\nbound = 1.0\n',
        r"outcome_constraints|unknown metrics",
    ),
    "linear constraint gibberish": (
        edit("seed = 7", 'seed = 7\nlinear_constraints = ["EC plus PC is small"]'),
        r"linear_constraints",
    ),
    "max_components zero": (edit("seed = 7", "seed = 7\nmax_components = 0"), r"max_components"),
    "warm_start as text": (edit("seed = 7", 'seed = 7\nwarm_start = "c1"'), r"warm_start"),
    "ask_timeout negative": (edit("seed = 7", "seed = 7\nask_timeout = -1.0"), r"ask_timeout"),
    "ask_timeout a day": (edit("seed = 7", "seed = 7\nask_timeout = 86400.0"), r"ask_timeout"),
    "pipeline as text": (edit("seed = 7", 'seed = 7\npipeline = "yes please"'), r"pipeline"),
    "unknown kind": (edit("seed = 7", 'seed = 7\nkind = "plasma"'), r"kind 'plasma'; allowed"),
    "cycling kind without cells": (edit("seed = 7", 'seed = 7\nkind = "cycling"'), r"cycling"),
    "budget fractional": (edit("budget = 24", "budget = 2.5"), r"budget: "),
    "temperature below absolute zero": (
        edit("temperature = 25.0", "temperature = -300.0"),
        r"temperature: ",
    ),
    "study empty": (edit('study = "electrolyte-conductivity"', 'study = ""'), r"study: "),
    "lab empty": (edit('lab = "simulated"', 'lab = ""'), r"lab: "),
    "description a number": (
        edit('description = "Maximise', 'description = 3 # "'),
        r"description",
    ),
    "name a list": (edit('name = "conductivity-demo"', 'name = ["a"]'), r"name: "),
    "seed beyond 64 bits": (
        edit("seed = 7", "seed = 99999999999999999999"),
        r"seed: .*less than or equal to 4294967295",
    ),
    "salt SMILES invalid": (
        edit('smiles = "[Li+].F[P-](F)(F)(F)(F)F"', 'smiles = "[Li+].F[P-(F"'),
        r"salt",
    ),
    "salt without name": (edit('name = "LiPF6"', 'label = "LiPF6"'), r"salt\.(name|label)"),
    "solvents as a table": (
        CAMPAIGN.replace("[[solvents]]", "[solvents.x]", 1),
        r"not valid TOML: .*line 25",  # [solvents.x] then [[solvents]]: TOML names the line
    ),
    "solvent without SMILES": (
        edit('smiles = "CCOC(=O)OC"', 'smells = "CCOC(=O)OC"'),
        r"smiles|smells",
    ),
    "solvent SMILES of a salt": (
        edit('smiles = "COC(=O)OC"', 'smiles = "[Na+].[Cl-]"'),
        r"smiles: .*not one neutral molecule",
    ),
    "override with empty rule": (
        CAMPAIGN
        + '\n[[safety_overrides]]\nrule = ""\nby = "Ada Lovelace"\nreason = "long enough reason"\n',
        r"safety_overrides\.0\.rule",
    ),
    "override by a control character": (
        CAMPAIGN
        + SOLVENT.format(name="water", smiles="O")
        + '\n[[safety_overrides]]\nrule = "hf-hazard"\nby = "\\u0007\\u0007\\u0007"\n'
        + 'reason = "long enough reason"\n',
        r"safety_overrides\.0\.by",
    ),
}

CYCLING = (REPO / "examples/campaigns/cycling.toml").read_text(encoding="utf-8")


def cycling_edit(old: str, new: str) -> str:
    assert old in CYCLING, old
    return CYCLING.replace(old, new, 1)


CAMPAIGN_CASES |= {
    "cycles too few": (cycling_edit("cycles = 100 ", "cycles = 2 "), r"cycling\.cycles"),
    "unknown chemistry": (
        cycling_edit('chemistry = "graphite-nmc811"', 'chemistry = "unobtainium"'),
        r"cycling\.chemistry|unobtainium",
    ),
    "c-rate too high": (cycling_edit("c_rate = 1.0", "c_rate = 10.0"), r"cycling\.c_rate"),
    "checkpoint beyond the cycles": (
        cycling_edit("checkpoints = [10, 25, 50]", "checkpoints = [10, 250]"),
        r"checkpoints",
    ),
    "cells above the chemistry's temperature": (
        cycling_edit("temperature = 25.0", "temperature = 50.0"),
        r"temperature 50.0 °C; allowed: <= 45.0 °C",
    ),
    "capacity floor 1": (
        cycling_edit("capacity_floor = 0.8", "capacity_floor = 1.0"),
        r"capacity_floor",
    ),
    "negative capacity": (
        cycling_edit("cell_capacity = 0.005", "cell_capacity = -1.0"),
        r"cell_capacity",
    ),
    "cycling pipeline": (cycling_edit("seed = 11", "seed = 11\npipeline = true"), r"pipeline"),
    "DME in an NMC cell": (
        CYCLING.replace(
            "[salt]",
            '[[solvents]]\nname = "DME"\nsmiles = "COCCOC"\nmax_fraction = 0.2\n\n[salt]',
            1,
        ),
        r"voltage-window",
    ),
    "unknown cycling key": (cycling_edit("stop_early = true", "stop_erly = true"), r"stop_erly"),
}


@pytest.mark.parametrize("case", sorted(CAMPAIGN_CASES))
def test_a_bad_campaign_file_is_refused_naming_what_is_wrong(tmp_path: Path, case: str) -> None:
    content, pattern = CAMPAIGN_CASES[case]
    message = refusal(load_campaign, tmp_path / "campaign.toml", content)
    assert re.search(pattern, message, re.DOTALL), message[:2000]
    assert len(message) < 5000  # a 10 MB value is not echoed back whole


def lab_edit(old: str, new: str) -> str:
    assert old in LAB, old
    return LAB.replace(old, new, 1)


LAB_CASES: dict[str, tuple[str | bytes, str]] = {
    "address with newline": (
        lab_edit(
            'driver = "scpi-conductivity"\naddress = "sim"',
            'driver = "scpi-conductivity"\naddress = "TCPIP::h::1::SOCKET\\n*RST"',
        ),
        r"meter\.address: .*one line of printable ASCII",
    ),
    "address with space": (
        lab_edit(
            'driver = "scpi-conductivity"\naddress = "sim"',
            'driver = "scpi-conductivity"\naddress = "TCPIP::h ::1::SOCKET"',
        ),
        r"meter\.address",
    ),
    "unknown driver": (
        lab_edit('driver = "scpi-conductivity"', 'driver = "orion"'),
        r"meter\.driver",
    ),
    "timeout zero": (lab_edit("timeout = 5.0", "timeout = 0.0"), r"timeout"),
    "speedup negative": (lab_edit("speedup = 600.0", "speedup = -1.0"), r"speedup"),
    "sample mass huge": (lab_edit("sample_mass = 4.0", "sample_mass = 1e9"), r"sample_mass"),
    "fault unknown": (
        LAB + '\n[[meter.faults]]\nfault = "fire"\nafter = 1\n',
        r"meter\.faults\.0\.fault",
    ),
    "fault two triggers": (
        LAB + '\n[[meter.faults]]\nfault = "silent"\nafter = 1\nprobability = 0.5\n',
        r"exactly one of after",
    ),
    "stock lot too long": (
        lab_edit("name = ", f'stock_lots = {{EC = "{"L" * 65}"}}\nname = '),
        r"stock_lots\.EC",
    ),
    "lab not UTF-8": (LAB.encode("utf-8") + b"\n# \xff\n", r"not UTF-8"),
    "no balance": (LAB.replace("[balance]", "[scales]", 1), r"balance: required|scales"),
    "unknown lab key": (lab_edit("seed = 0", "seed = 0\ncolour = 'blue'"), r"colour"),
    "limit as text": (lab_edit("capacity = 220.0", 'capacity = "lots"'), r"balance\.limits"),
    "speedup beyond a million": (lab_edit("speedup = 600.0", "speedup = 1e7"), r"speedup"),
    "fault on a real instrument": (
        lab_edit(
            'driver = "mt-sics"\naddress = "sim"',
            'driver = "mt-sics"\naddress = "TCPIP::h::1::SOCKET"',
        )
        + '\n[[balance.faults]]\nfault = "silent"\nafter = 1\n',
        r"faults can only be injected into a simulator",
    ),
    "fault after negative": (LAB + '\n[[meter.faults]]\nfault = "silent"\nafter = -1\n', r"after"),
    "fault probability zero": (
        LAB + '\n[[meter.faults]]\nfault = "silent"\nprobability = 0.0\n',
        r"probability",
    ),
    "fault times zero": (
        LAB + '\n[[meter.faults]]\nfault = "silent"\nafter = 1\ntimes = 0\n',
        r"times",
    ),
    "stock molality zero": (
        lab_edit("stock_molality = 2.5", "stock_molality = 0.0"),
        r"stock_molality",
    ),
    "stock mass negative": (lab_edit("stock_mass = 500.0", "stock_mass = -5.0"), r"stock_mass"),
    "cycler driver unknown": (
        lab_edit('driver = "electroloop-cycler"', 'driver = "neware"'),
        r"cycler\.driver",
    ),
    "address table for the meter": (
        lab_edit(
            'driver = "scpi-conductivity"\naddress = "sim"',
            'driver = "scpi-conductivity"\naddress = { a = "sim" }',
        ),
        r"meter\.address: one VISA address",
    ),
    "pump address with a semicolon and space": (
        lab_edit(
            'address = "sim"          # or a table',
            'address = { EC = "ASRL1::INSTR; *RST" } # or a table',
        ),
        r"pumps\.address",
    ),
    "lab empty": ("", r"required but missing|balance"),
    "lab not TOML": ("[balance", r"not valid TOML"),
}


def bench_edit(old: str, new: str) -> str:
    assert old in BENCH, old
    return BENCH.replace(old, new, 1)


LAB_CASES |= {  # the bench a lab can buy: arm, Orion meter, Neware cycler (issue 18)
    "arm pose of five numbers": (
        bench_edit(
            '"balance" = [420.0, 60.0, 95.0, 0.0, 90.0, 180.0, 1]', '"balance" = [1, 2, 3, 4, 5]'
        ),
        r"arm\.positions.*balance",
    ),
    "arm pose not a number": (
        bench_edit('"meter" = [300.0, 200.0, 60.0,', '"meter" = [nan, 200.0, 60.0,'),
        r"arm\.positions.*meter",
    ),
    "arm elbow config unknown": (
        bench_edit(
            '"waste" = [150.0, 250.0, 120.0, 0.0, 90.0, 180.0, 1]',
            '"waste" = [150.0, 250.0, 120.0, 0.0, 90.0, 180.0, 3]',
        ),
        r"arm\.positions.*waste",
    ),
    "arm without the balance taught": (
        bench_edit('"balance" = [420.0, 60.0, 95.0, 0.0, 90.0, 180.0, 1]\n', ""),
        r"arm\.positions.*balance",
    ),
    "arm without the standards taught": (
        bench_edit('"standards" = [360.0, 200.0, 40.0, 0.0, 90.0, 180.0, 1]\n', ""),
        r"standards",
    ),
    "arm driver unknown": (
        bench_edit('driver = "precise-flex"', 'driver = "pf400"'),
        r"arm\.driver",
    ),
    "orion meter misspelt": (
        bench_edit('driver = "orion-a215"', 'driver = "orion-a211"'),
        r"meter\.driver",
    ),
    "neware driver misspelt": (
        bench_edit('driver = "neware-bts"', 'driver = "neware-bts8"'),
        r"cycler\.driver",
    ),
    "simulated arm over a real balance": (
        bench_edit(
            'driver = "mt-sics"\naddress = "sim"',
            'driver = "mt-sics"\naddress = "TCPIP::h::4001::SOCKET"',
        ),
        r"arm\.address is 'sim' but balance\.address is a real balance",
    ),
    "stock lot empty": (bench_edit('EC = "EC-2026-0412"', 'EC = ""'), r"stock_lots\.EC"),
}


@pytest.mark.parametrize("case", sorted(LAB_CASES))
def test_a_bad_lab_file_is_refused_naming_what_is_wrong(tmp_path: Path, case: str) -> None:
    content, pattern = LAB_CASES[case]
    message = refusal(load_lab, tmp_path / "lab.toml", content)
    assert re.search(pattern, message, re.DOTALL), message[:2000]


@pytest.mark.parametrize(
    ("change", "pattern"),
    [
        ('lab = "missing/lab.toml"', r"cannot read lab file"),
        ('lab = "simulated"\n# and a solvent the physics lacks', None),
    ],
)
def test_what_the_file_cannot_show_is_refused_before_prefect_starts(
    tmp_path: Path, change: str, pattern: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    text = edit('lab = "simulated"', change)
    if pattern is None:  # the simulated meter's physics lacks GBL: refused, nothing run
        text += SOLVENT.format(name="GBL", smiles="O=C1CCCO1")
        pattern = r"'O=C1CCCO1' is not supported by the simulator's physics"
    path = tmp_path / "campaign.toml"
    path.write_text(text, encoding="utf-8")
    home = tmp_path / "home"
    assert main(["--home", str(home), "run", str(path)]) == 2
    assert re.search(pattern, capsys.readouterr().err)
    assert not (home / "campaigns.sqlite").exists() and not (home / "prefect").exists()


def test_the_corpus_is_large_enough() -> None:
    assert len(CAMPAIGN_CASES) + len(LAB_CASES) >= 100
    assert issubclass(ConfigError, ElectroloopError)


PLUG_INS = """
from electroloop.planners import SobolPlanner


class Raises(SobolPlanner):
    name = "raises"

    def ask(self, n):
        raise ZeroDivisionError("division by zero in my acquisition")


class Nothing(SobolPlanner):
    name = "nothing"

    def ask(self, n):
        return []


class TooMany(SobolPlanner):
    name = "too-many"

    def ask(self, n):
        return super().ask(n + 1)


class Duplicates(SobolPlanner):
    name = "duplicates"

    def ask(self, n):
        first = super().ask(n)[0]
        return [first, first]


class Outside(SobolPlanner):
    name = "outside"

    def ask(self, n):
        first = super().ask(n)[0]
        design = first.design.model_copy(update={"molality": 9.0})
        return [first.model_copy(update={"design": design})]


class NotCandidates(SobolPlanner):
    name = "dicts"

    def ask(self, n):
        return [{"id": "t0000"}]


class BrokenInit(SobolPlanner):
    def __init__(self, *args, **kwargs):
        raise RuntimeError("no licence server")
"""


@pytest.mark.parametrize(
    ("planner", "pattern"),
    [
        ("Raises", r"planner raises failed to propose: ZeroDivisionError: division by zero"),
        ("Nothing", r"planner nothing proposed 0 candidates when asked for 4; allowed: 1 to 4"),
        ("TooMany", r"planner too-many proposed 5 candidates when asked for 4"),
        ("Duplicates", r"planner duplicates re-used candidate id 't0000'"),
        ("Outside", r"planner outside proposed t0000 outside the search space: .*molality"),
        ("NotCandidates", r"planner dicts proposed a dict; allowed: Candidate"),
        ("BrokenInit", r"could not be built: RuntimeError: no licence server"),
    ],
)
def test_a_plug_in_planner_that_misbehaves_is_refused_before_anything_starts(
    tmp_path: Path, planner: str, pattern: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "bad.py").write_text(PLUG_INS, encoding="utf-8")
    path = tmp_path / "campaign.toml"
    path.write_text(edit('planner = "ax"', f'planner = "bad.py:{planner}"'), encoding="utf-8")
    home = tmp_path / "home"
    assert main(["--home", str(home), "run", str(path)]) == 2
    assert re.search(pattern, capsys.readouterr().err)
    assert not (home / "campaigns.sqlite").exists() and not (home / "prefect").exists()
