"""pylock.toml (PEP 751), the lock every install reads.

`make lock` resolves with pip-compile into requirements.txt, then writes the same pins as
pylock.toml with `uv pip compile --no-deps --format pylock.toml`, and runs `publish` on it: the
CPU build of torch comes from this machine's wheel folder (it is not on PyPI), so uv writes a
local path; `publish` names the same file on PyTorch's CPU index instead (same name, same sha256)
and refuses any other local path. `make` installs with `requirements`: every locked package at
its version with its files' hashes, for `pip install --require-hashes --no-deps` (pip 23 cannot
read pylock.toml itself).

    python .ci/pylock.py publish pylock.toml
    python .ci/pylock.py requirements pylock.toml > locked.txt
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path
from urllib.parse import quote

PUBLIC_INDEXES = {"torch": "https://download.pytorch.org/whl/cpu"}
HEADER = (
    "# PEP 751 lock: what `make` installs (.ci/pylock.py), the pins of requirements.txt, written\n"
    "# by `make lock` with uv. Do not edit by hand.\n"
)


def publish(text: str) -> str:
    """The lock with every local wheel path replaced by its public URL, and the header."""

    def public(match: re.Match[str]) -> str:
        wheel = match.group(1).rsplit("/", 1)[1]
        name = wheel.split("-", 1)[0].lower()
        if name not in PUBLIC_INDEXES:
            raise SystemExit(f"pylock.toml: {wheel} comes from a local folder and no public index")
        return f'url = "{PUBLIC_INDEXES[name]}/{quote(wheel)}"'

    published = re.sub(r'url = "file://([^"]+)"', public, text)
    return HEADER + published.removeprefix(HEADER)


def requirements(text: str) -> str:
    """`name==version --hash=sha256:…` for every locked package and every file of it."""
    lines = []
    for package in tomllib.loads(text)["packages"]:
        files = [*package.get("wheels", []), *filter(None, [package.get("sdist")])]
        hashes = " ".join(f"--hash=sha256:{f['hashes']['sha256']}" for f in files)
        lines.append(f"{package['name']}=={package['version']} {hashes}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    command, path = sys.argv[1], Path(sys.argv[2])
    text = path.read_text(encoding="utf-8")
    if command == "publish":
        path.write_text(publish(text), encoding="utf-8")
    elif command == "requirements":
        sys.stdout.write(requirements(text))
    else:
        raise SystemExit(f"command {command!r}; allowed: publish, requirements")
