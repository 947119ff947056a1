"""Typed errors: every failure names what went wrong and what is allowed.

Callers catch the narrowest class they can act on: a `LimitViolation` is raised *before*
anything is sent to an instrument, a `DeviceFault` after the instrument refused or failed.
"""

from __future__ import annotations


class ElectroloopError(Exception):
    """Root of every error electroloop raises on purpose."""


class ConfigError(ElectroloopError):
    """A campaign file, lab file or setting is invalid; nothing has moved yet."""


class InstrumentError(ElectroloopError):
    """An instrument could not do what was asked."""


class InstrumentTimeout(InstrumentError):
    """The instrument did not answer within its timeout."""


class LimitViolation(InstrumentError):
    """A command argument is outside the instrument's safe range; nothing was sent."""


class DeviceFault(InstrumentError):
    """The instrument answered with an error code or an unparseable reply."""


class PlannerError(ElectroloopError):
    """The planner could not propose or could not accept observations."""


class SimulationError(ElectroloopError):
    """A physics model was asked for something outside its validity domain."""


class CampaignError(ElectroloopError):
    """The campaign log is inconsistent with the requested operation."""


class CampaignHalted(CampaignError):
    """The campaign stopped itself (e.g. trials failing the same way in a row); resume it once
    the cause is fixed."""


class TrackingError(ElectroloopError):
    """Recording into MLflow failed; the event log still holds every fact."""
