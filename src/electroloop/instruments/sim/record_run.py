"""The checks every cycler-file writer (`mpr_file`, `ndax_file`) makes of the records it is
given before it writes a byte: one run, in time order, finite values, steps its format holds."""

from __future__ import annotations

import math
from collections.abc import Sequence

from electroloop.errors import ConfigError
from electroloop.instruments.cycler import CycleRecord

__all__ = ["check_run"]


def check_run(
    records: Sequence[CycleRecord],
    roles: Sequence[str] | None,
    *,
    max_step: int,
    step_note: str = "",
    finite_temperature: bool = False,
) -> None:
    """ConfigError naming the first record a file of steps 1..`max_step` cannot hold."""
    if not records:
        raise ConfigError("records: none given; allowed: at least one record")
    previous = -math.inf
    for record in records:
        values = [record.time, record.current, record.voltage, record.capacity, record.energy]
        if finite_temperature:
            values.append(record.temperature)
        if not all(math.isfinite(v) for v in values):
            raise ConfigError(f"record {record.index}: a non-finite value; allowed: finite")
        if record.time < previous:
            raise ConfigError(
                f"record {record.index}: time {record.time} s before the previous record's "
                f"{previous} s; allowed: records of one run in time order"
            )
        previous = record.time
        if record.cycle < 1 or not 1 <= record.step <= max_step:
            raise ConfigError(
                f"record {record.index}: cycle {record.cycle}, step {record.step}; "
                f"allowed: cycle >= 1, step 1..{max_step}{step_note}"
            )
        if roles is not None and record.step > len(roles):
            raise ConfigError(
                f"record {record.index}: step {record.step}; allowed: 1..{len(roles)} (roles)"
            )
