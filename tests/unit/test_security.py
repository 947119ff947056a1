"""Nothing a user supplies is ever executed by loading it: an AST scan of the package for the
calls that would (pickle and its kin, torch.load without weights_only, eval/exec, shells)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "electroloop"
UNSAFE_MODULES = {"pickle", "cloudpickle", "dill", "marshal", "shelve"}


def calls(tree: ast.AST) -> list[ast.Call]:
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call)]


def dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Attribute):
        return f"{dotted(node.value)}.{node.attr}"
    return node.id if isinstance(node, ast.Name) else ""


def keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def findings(root: Path) -> list[str]:
    """Every unsafe import or call in the Python files under `root`."""
    found = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        where = path.relative_to(root.parent)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = (
                    [a.name for a in node.names]
                    if isinstance(node, ast.Import)
                    else [node.module or ""]
                )
                found += [
                    f"{where}: imports {n}" for n in names if n.split(".")[0] in UNSAFE_MODULES
                ]
        for call in calls(tree):
            name = dotted(call.func)
            if name == "torch.load":
                weights_only = keyword(call, "weights_only")
                if not (isinstance(weights_only, ast.Constant) and weights_only.value is True):
                    found.append(f"{where}:{call.lineno}: torch.load without weights_only=True")
            if name in {"eval", "exec", "compile", "os.system", "os.popen"}:
                found.append(f"{where}:{call.lineno}: {name}()")
            shell = keyword(call, "shell")
            if isinstance(shell, ast.Constant) and shell.value is True:
                found.append(f"{where}:{call.lineno}: {name}(shell=True)")
    return found


def test_no_user_data_is_loaded_by_executing_it() -> None:
    assert findings(SRC) == []


def test_the_scan_finds_what_it_looks_for(tmp_path: Path) -> None:
    """The scan itself works: each pattern it forbids is found in a sample package."""
    package = tmp_path / "sample"
    package.mkdir()
    (package / "bad.py").write_text(
        "import pickle\nimport subprocess\nimport torch\n"
        "torch.load('m.pt')\ntorch.load('m.pt', weights_only=False)\n"
        "torch.load('m.pt', weights_only=True)\n"
        "eval('1')\nsubprocess.run('ls', shell=True)\n",
        encoding="utf-8",
    )
    found = findings(package)
    assert len(found) == 5, found
    assert sum("torch.load" in f for f in found) == 2 and any("imports pickle" in f for f in found)


def test_databases_are_readable_by_their_owner_only(tmp_path: Path) -> None:
    """A lab's event log and MLflow database are nobody else's on a shared PC."""
    import stat

    from electroloop.orchestrator.store import CampaignStore
    from electroloop.workflows.tracking import open_client

    with CampaignStore(tmp_path / "home" / "campaigns.sqlite") as store:
        store.campaign_ids()
    open_client(f"sqlite:///{tmp_path / 'home' / 'mlflow.db'}")
    for name in ("campaigns.sqlite", "campaigns.sqlite-wal", "mlflow.db"):
        path = tmp_path / "home" / name
        if path.exists():
            assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, name
    assert (tmp_path / "home" / "mlflow.db").exists()
