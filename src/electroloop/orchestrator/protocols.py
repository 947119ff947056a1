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

    def shortfall(self, targets: Mapping[str, float]) -> dict[str, float]:
        """Stock name -> grams missing from its bottle to dose `targets` (only those short)."""
        ...

    def refill(self, stock: str, mass: float) -> None:
        """Book `mass` g poured into the bottle of `stock` by a person."""
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

    def recover_vial(self, masses: Mapping[str, float]) -> bool:
        """Put back the vial dosed with `masses` (stock -> g) before a crash, for measuring.

        False if that vial is gone (then its trial fails; it is never dosed again).
        """
        ...


class BottleRack(Protocol):
    """Where stock bottles stand; a person tops them up (a simulator mirrors that)."""

    def refill_bottle(self, stock: str, mass: float) -> None: ...


class TrafficLog(Protocol):
    """Raw traffic of one instrument, taken in pieces: each `take` returns what came since."""

    def take(self) -> Transcript: ...
