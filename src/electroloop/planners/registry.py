"""Resolve a campaign's ``planner:`` reference to a planner class.

Built-ins are named ("ax", "sobol", "random"); a scientist's own planner is referenced as
``package.module:ClassName``. Ax is imported only when "ax" is chosen: it costs 4–5 s.
"""

from __future__ import annotations

import importlib

from electroloop.errors import ConfigError

BUILTIN_PLANNERS: tuple[str, ...] = ("ax", "sobol", "random")
REQUIRED_METHODS: tuple[str, ...] = ("ask", "tell", "mark_failed", "state", "from_state")
_ALLOWED = f"one of {', '.join(repr(p) for p in BUILTIN_PLANNERS)} or 'package.module:ClassName'"


def _builtin(ref: str) -> type:
    if ref == "sobol":
        from electroloop.planners.sobol import SobolPlanner

        return SobolPlanner
    if ref == "random":
        from electroloop.planners.random import RandomPlanner

        return RandomPlanner
    from electroloop.planners.ax_planner import AxPlanner  # the slow import, only on demand

    return AxPlanner


def resolve_planner(ref: str) -> type:
    """The planner class `ref` names; `ConfigError` saying what is allowed otherwise."""
    ref = ref.strip()
    if ref in BUILTIN_PLANNERS:
        return _builtin(ref)
    module_name, sep, class_name = ref.partition(":")
    if not sep or not module_name or not class_name.isidentifier():
        raise ConfigError(f"planner {ref!r} is not recognised; allowed: {_ALLOWED}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(
            f"planner {ref!r}: cannot import module {module_name!r} ({exc}); allowed: {_ALLOWED}"
        ) from exc
    cls = getattr(module, class_name, None)
    if not isinstance(cls, type):
        raise ConfigError(
            f"planner {ref!r}: module {module_name!r} has no class {class_name!r}; "
            f"allowed: {_ALLOWED}"
        )
    missing = [m for m in REQUIRED_METHODS if not callable(getattr(cls, m, None))]
    if missing:
        raise ConfigError(
            f"planner {ref!r}: class {class_name} lacks {', '.join(missing)}; a planner needs "
            f"{', '.join(REQUIRED_METHODS)} (see electroloop.planners.base.Planner)"
        )
    return cls
