"""Summarise `pip-audit --format json` over the lock: every known vulnerability by package, and
how many packages could not be audited (a vulnerability service out of reach counts as skipped,
said plainly rather than read as "no known vulnerabilities"). Exit 1 if any vulnerability.

Usage: python .ci/audit.py AUDIT.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(path: str) -> int:
    report = json.loads(Path(path).read_text(encoding="utf-8"))
    packages = report["dependencies"]
    skipped = [p for p in packages if "skip_reason" in p]
    found = [(p, v) for p in packages for v in p.get("vulns", [])]
    for package, vuln in found:
        fixed = ", ".join(vuln.get("fix_versions", [])) or "no fix yet"
        print(f"{package['name']} {package['version']}: {vuln['id']} (fixed in {fixed})")
    audited = len(packages) - len(skipped)
    print(
        f"dependency audit: {audited} of {len(packages)} locked packages audited, "
        f"{len(found)} known vulnerabilities, {len(skipped)} skipped"
    )
    if skipped and not audited:
        print(f"  nothing audited: {skipped[0]['skip_reason']} (vulnerability service unreachable?)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
