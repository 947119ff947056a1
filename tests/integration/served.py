"""`electroloop sim up` in another process, for tests that reach its simulators by address."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def sim_up(lab: Path, written: Path, *options: str) -> Iterator[Path]:
    """Serve `lab`'s simulators from another process until the block ends; yields the lab file
    it wrote at `written`, naming each instrument by its loopback address."""
    command = [sys.executable, "-m", "electroloop.cli", "sim", "up", "--lab", str(lab)]
    process = subprocess.Popen(
        [*command, *options, "--write", str(written)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("running"):
                break
        yield written
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
