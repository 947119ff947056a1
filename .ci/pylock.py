"""Make uv's pylock.toml (PEP 751) fit to publish: every wheel named by a public URL.

`make lock` resolves requirements.txt with `uv pip compile --format pylock.toml`. The CPU build of
torch comes from this machine's wheel folder (it is not on PyPI), so uv writes its local path;
this replaces it with the same file on PyTorch's CPU index (same name, same sha256) and refuses
any other local path. Usage: python .ci/pylock.py pylock.toml
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from urllib.parse import quote

PUBLIC_INDEXES = {"torch": "https://download.pytorch.org/whl/cpu"}
HEADER = (
    "# PEP 751 lock of requirements.txt (same versions), written by `make lock` with uv;\n"
    "# `make` installs from requirements.txt. Do not edit by hand.\n"
)


def publish(text: str) -> str:
    def public(match: re.Match[str]) -> str:
        wheel = match.group(1).rsplit("/", 1)[1]
        name = wheel.split("-", 1)[0].lower()
        if name not in PUBLIC_INDEXES:
            raise SystemExit(f"pylock.toml: {wheel} comes from a local folder and no public index")
        return f'url = "{PUBLIC_INDEXES[name]}/{quote(wheel)}"'

    published = re.sub(r'url = "file://([^"]+)"', public, text)
    return HEADER + published.removeprefix(HEADER)


if __name__ == "__main__":
    path = Path(sys.argv[1])
    path.write_text(publish(path.read_text(encoding="utf-8")), encoding="utf-8")
