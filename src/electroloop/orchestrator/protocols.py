"""What the orchestrator needs of the lab, as small Protocols; it never imports a driver.

Concrete drivers (or a technician's UI, or anything else) satisfy these structurally; the
composition root in `workflows/build.py` wires them together.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from electroloop.models import Transcript


class DosingStation(Protocol):
    """Doses stock masses into the current vial and reports what the balance weighed."""

    def dose(self, targets: Mapping[str, float]) -> dict[str, float]:
        """Stock name -> target grams in; stock name -> weighed grams out."""
        ...


class ConductivityProbe(Protocol):
    """Reads the conductivity (mS/cm) and temperature (°C) of the sample in the current vial."""

    def conductivity(self) -> float: ...

    def temperature(self) -> float: ...


class VialHandler(Protocol):
    """Puts an empty vial where the dosing station and probe reach it."""

    def present_fresh_vial(self) -> str:
        """Returns the new vial's id."""
        ...


class TrafficLog(Protocol):
    """Raw traffic of one instrument, taken in pieces: each `take` returns what came since."""

    def take(self) -> Transcript: ...
