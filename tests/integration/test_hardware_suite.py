"""The commissioning suite (tests/hardware) passes against simulated labs, so it stays true to
the drivers a technician will point it at."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LABS = [
    REPO / "src" / "electroloop" / "lab.sim.toml",
    REPO / "examples" / "labs" / "lab.bench.toml",  # arm, Orion meter, Neware cycler
]


def hardware_suite(*options: str) -> tuple[int, str]:
    """Run tests/hardware with `options` in a fresh interpreter: exit code, last output line."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-m",
            "hardware",
            *options,
            str(REPO / "tests" / "hardware"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    summary = done.stdout.strip().splitlines()[-1]
    return done.returncode, summary if done.returncode == 0 else done.stdout[-3000:]


@pytest.mark.parametrize("lab", LABS, ids=lambda p: p.name)
def test_the_hardware_suite_passes_on_a_simulated_lab(lab: Path) -> None:
    code, summary = hardware_suite("--lab", str(lab))
    assert code == 0, summary
    assert re.search(r"\d+ passed", summary) and "skipped" not in summary, summary


def test_without_a_lab_file_the_hardware_suite_is_skipped() -> None:
    code, summary = hardware_suite()
    assert code == 0 and "skipped" in summary and "passed" not in summary, summary
