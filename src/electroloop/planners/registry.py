"""Resolve a campaign's ``planner`` reference to a planner class.

A reference is one of

- a built-in name: ``"ax"``, ``"sobol"``, ``"random"`` (Ax is imported only when chosen: 4–5 s);
- ``"package.module:ClassName"``: a class in an importable module;
- ``"path/to/file.py:ClassName"``: a class in a Python file; a relative path is taken from
  `base_dir` (the campaign file's folder, passed by the caller; default: the working directory);
- a name registered under the entry-point group ``electroloop.planners`` by an installed
  package, e.g. in its pyproject.toml::

      [project.entry-points."electroloop.planners"]
      local = "my_lab.planners:LocalSearch"

Built-in names win over entry points of the same name. The class must have ``ask``, ``tell``,
``mark_failed``, ``state`` and ``from_state`` (see `electroloop.protocols.Planner`) and be
constructible as ``Class(space, goal, seed)``; ``mark_abandoned`` is optional: without it the
orchestrator reports an abandoned candidate through ``mark_failed`` (so the planner may propose
that formulation again).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import json
import sys
from collections.abc import Mapping
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import Any

from electroloop.errors import ConfigError

BUILTIN_PLANNERS: tuple[str, ...] = ("ax", "ax-stock", "transfer", "sobol", "random")
ENTRY_POINT_GROUP = "electroloop.planners"
REQUIRED_METHODS: tuple[str, ...] = ("ask", "tell", "mark_failed", "state", "from_state")
OPTIONAL_METHODS: tuple[str, ...] = ("mark_abandoned",)
_ALLOWED = (
    f"one of {', '.join(repr(p) for p in BUILTIN_PLANNERS)}, 'package.module:ClassName', "
    f"'path/to/file.py:ClassName' or a name registered under the entry-point group "
    f"{ENTRY_POINT_GROUP!r}"
)


def _builtin(ref: str) -> type:
    if ref == "sobol":
        from electroloop.planners.sobol import SobolPlanner

        return SobolPlanner
    if ref == "random":
        from electroloop.planners.random import RandomPlanner

        return RandomPlanner
    if ref == "transfer":
        from electroloop.planners.transfer import TransferPlanner

        return TransferPlanner
    if ref == "ax-stock":
        from electroloop.planners.ax_stock import StockAxPlanner

        return StockAxPlanner
    from electroloop.planners.ax_planner import AxPlanner  # the slow import, only on demand

    return AxPlanner


def planner_version(planner_class: type, settings: Mapping[str, Any]) -> str:
    """The planner's model version: its class, a hash of the settings it was built with, and a
    hash of the source file it came from (a scientist's edit to a plug-in changes it), so a
    campaign's provenance says which model made its proposals, not only which package."""
    source = inspect.getsourcefile(planner_class)
    code = hashlib.sha256(Path(source).read_bytes()).hexdigest()[:12] if source else "unknown"
    knobs = json.dumps(dict(settings), sort_keys=True, default=str).encode()
    return (
        f"{planner_class.__module__}.{planner_class.__qualname__} source {code} "
        f"settings {hashlib.sha256(knobs).hexdigest()[:12]}"
    )


def registered_planners() -> dict[str, str]:
    """Entry-point name -> ``module:Class`` of every planner registered by installed packages."""
    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}


def resolve_planner(ref: str, base_dir: str | Path | None = None) -> type:
    """The planner class `ref` names; `ConfigError` naming `ref`, the problem and what is allowed.

    `base_dir` anchors relative file paths (``"planners/mine.py:Mine"``); default: the working
    directory.
    """
    ref = ref.strip()
    if ref in BUILTIN_PLANNERS:
        return _builtin(ref)
    location, sep, class_name = ref.rpartition(":")
    if not sep:
        cls = _from_entry_point(ref)
    elif not location or not class_name.isidentifier():
        raise ConfigError(f"planner {ref!r} is not recognised; allowed: {_ALLOWED}")
    elif location.endswith(".py") or "/" in location or "\\" in location:
        cls = getattr(_load_file(ref, location, base_dir), class_name, None)
    else:
        cls = getattr(_import(ref, location), class_name, None)
    if not isinstance(cls, type):
        raise ConfigError(
            f"planner {ref!r}: {location or ref!r} has no class {class_name!r}; "
            f"allowed: a class implementing electroloop.protocols.Planner"
        )
    _check_class(ref, cls)
    return cls


def _from_entry_point(ref: str) -> type:
    found = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == ref]
    if not found:
        registered = sorted(registered_planners())
        raise ConfigError(
            f"planner {ref!r} is not recognised: not a built-in and no entry point of group "
            f"{ENTRY_POINT_GROUP!r} has that name (registered: {registered or 'none'}); "
            f"allowed: {_ALLOWED}"
        )
    entry = found[0]
    try:
        loaded = entry.load()
    except Exception as exc:  # user code: any error at import time is a configuration error
        raise ConfigError(
            f"planner {ref!r}: cannot load entry point {entry.value!r} of group "
            f"{ENTRY_POINT_GROUP!r} ({exc!r}); allowed: an importable 'module:Class'"
        ) from exc
    if not isinstance(loaded, type):
        raise ConfigError(
            f"planner {ref!r}: entry point {entry.value!r} of group {ENTRY_POINT_GROUP!r} is "
            f"not a class; allowed: a class implementing electroloop.protocols.Planner"
        )
    return loaded


def _import(ref: str, module_name: str) -> ModuleType:
    try:
        return importlib.import_module(module_name)
    except Exception as exc:  # user code: any error at import time is a configuration error
        raise ConfigError(
            f"planner {ref!r}: cannot import module {module_name!r} ({exc!r}); allowed: {_ALLOWED}"
        ) from exc


def _load_file(ref: str, location: str, base_dir: str | Path | None) -> ModuleType:
    """Import a planner file once per process, under a name unique to its resolved path."""
    path = Path(location).expanduser()
    if not path.is_absolute():
        path = Path(base_dir if base_dir is not None else Path.cwd()) / path
    path = path.resolve()
    if path.suffix != ".py" or not path.is_file():
        raise ConfigError(
            f"planner {ref!r}: {str(path)!r} is not a Python file; allowed: an existing '.py' "
            "file (relative paths are taken from the campaign file's folder)"
        )
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:12]
    module_name = f"electroloop_user_planners.{path.stem}_{digest}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"planner {ref!r}: cannot load {str(path)!r}; allowed: {_ALLOWED}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # before running it: dataclasses and pickling look it up
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # user code: any error at import time is a configuration error
        del sys.modules[module_name]
        raise ConfigError(
            f"planner {ref!r}: running {str(path)!r} failed ({exc!r}); allowed: a file that "
            "imports cleanly"
        ) from exc
    return module


def _check_class(ref: str, cls: type) -> None:
    missing = [m for m in REQUIRED_METHODS if not callable(getattr(cls, m, None))]
    if missing:
        raise ConfigError(
            f"planner {ref!r}: class {cls.__name__} lacks {', '.join(missing)}; a planner needs "
            f"{', '.join(REQUIRED_METHODS)} (and may have {', '.join(OPTIONAL_METHODS)}); "
            "see electroloop.protocols.Planner"
        )
    try:
        signature = inspect.signature(cls)
    except (TypeError, ValueError):  # no introspectable signature: trust the class
        return
    try:
        signature.bind("space", "goal", "seed")
    except TypeError as exc:
        raise ConfigError(
            f"planner {ref!r}: class {cls.__name__}{signature} cannot be built as "
            f"{cls.__name__}(space, goal, seed) ({exc}); allowed: a constructor taking the "
            "search space, the goal and an integer seed"
        ) from exc
