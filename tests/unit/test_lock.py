"""The two lock files agree: pylock.toml (PEP 751) pins exactly what requirements.txt pins, with
a hash requirements.txt also accepts, and names every file by a public URL."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def requirements() -> dict[str, tuple[str, set[str]]]:
    """name -> (version, sha256 hashes) of every package requirements.txt pins."""
    pins: dict[str, tuple[str, set[str]]] = {}
    text = (REPO_ROOT / "requirements.txt").read_text(encoding="utf-8")
    for block in re.split(r"\n(?=[A-Za-z0-9])", text):
        match = re.match(r"([A-Za-z0-9_.-]+)==(\S+)", block)
        if match:
            name = re.sub(r"[-_.]+", "-", match.group(1)).lower()
            pins[name] = (match.group(2), set(re.findall(r"sha256:([0-9a-f]{64})", block)))
    return pins


def test_pylock_pins_what_requirements_pins_with_a_shared_hash_and_public_urls() -> None:
    lock = tomllib.loads((REPO_ROOT / "pylock.toml").read_text(encoding="utf-8"))
    assert lock["lock-version"] == "1.0"
    pins = requirements()
    locked = {p["name"]: p for p in lock["packages"]}
    assert {n: p["version"] for n, p in locked.items()} == {n: v for n, (v, _) in pins.items()}
    for name, package in locked.items():
        files = [*package.get("wheels", []), *([package["sdist"]] if "sdist" in package else [])]
        assert files, f"{name}: no file in pylock.toml"
        assert all(f["url"].startswith("https://") for f in files), name
        assert {f["hashes"]["sha256"] for f in files} & pins[name][1], f"{name}: no shared hash"
