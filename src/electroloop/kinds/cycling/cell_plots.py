"""The two plots a battery scientist reads first for one cell, from its phases' records."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from electroloop.kinds.cycling.plots import capacity_fade_plot, voltage_capacity_plot
from electroloop.kinds.cycling.summary import (
    PhaseData,
    curves,
    summarize,
    to_cycle_summaries,
)

__all__ = ["CYCLING_PHASE", "plot_cell"]

CYCLING_PHASE = "cycling"
"""The long-term phase whose V–Q curves show fade best; other phases differ in rate."""

_CELL_ID = re.compile(r"^[A-Za-z0-9_.-]+$")


def plot_cell(phases: Sequence[PhaseData], folder: Path, cell_id: str, title: str) -> list[Path]:
    """Write ``<cell_id>_vq.png`` and ``<cell_id>_fade.png`` into `folder`; returns the paths.

    The V–Q plot shows the cycling phase's complete cycles once it has any, else every phase's
    (formation and rate steps); the fade plot shows discharge capacity and Coulombic efficiency
    of every complete cycle by global cycle. With no complete cycle yet there is nothing to
    draw and nothing is written (an empty list).
    """
    if not _CELL_ID.match(cell_id):
        raise ValueError(f"cell_id must match {_CELL_ID.pattern} (it names files), got {cell_id!r}")
    summaries = to_cycle_summaries(summarize(phases))
    names = {phase.name for phase in phases}
    vq = curves(phases, CYCLING_PHASE) if CYCLING_PHASE in names else []
    label = f"{title}, {CYCLING_PHASE}"
    if not vq:
        vq, label = curves(phases), title
    written = []
    if vq:
        written.append(voltage_capacity_plot(vq, folder / f"{cell_id}_vq.png", title=label))
    if summaries:
        written.append(capacity_fade_plot(summaries, folder / f"{cell_id}_fade.png", title=title))
    return written
