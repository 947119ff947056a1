"""What a lab technician does, in a real browser: `electroloop up`, `electroloop serve`, open the
Prefect UI, find the start-campaign deployment's custom-run form, start a campaign that needs
approval, approve its first batch in the UI's Resume dialog, and find the campaign in MLflow.

Everything runs as the technician runs it: the CLI as subprocesses in their own home, no test
harness server. The three screenshots the README shows (docs/technician_*.png) are written only
when the whole test passes. About 1.5–2 min on two cores.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
DEPLOYMENTS = {"start-campaign/lab", "screen-molecules/lab", "resume-campaign/lab"}
FORM_FIELDS = (
    "Campaign file",
    "Planner",
    "Budget (trials)",
    "Batch size",
    "Approval required",
    "Lab file",
)
CAMPAIGN = {
    "name": "technician-ui",
    "planner": "sobol",
    "budget": 4,
    "batch_size": 2,
    "approval_required": True,
    "approval_timeout_minutes": 5,
}
STUDY = "electrolyte-conductivity"  # the embedded demo campaign's MLflow experiment
FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


@dataclass(frozen=True)
class Lab:
    home: Path
    prefect_url: str  # what the technician opens
    api: str
    mlflow_url: str
    serve_log: Path


def cli_environment(home: Path) -> dict[str, str]:
    """The technician's shell: no Prefect settings a test fixture may have set, this home."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PREFECT_", "ELECTROLOOP_", "MLFLOW_TRACKING_"))
    }
    return env | {
        "ELECTROLOOP_HOME": str(home),
        "ELECTROLOOP_LEASE_TTL": "5",
        "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
    }


def electroloop(home: Path, *words: str) -> list[str]:
    return [sys.executable, "-m", "electroloop.cli", "--home", str(home), *words]


def api_call(api: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """GET (no body) or POST JSON to the Prefect REST API; the decoded answer.

    A 503 is asked again, as Prefect's own client does: the server answers it when its SQLite
    database is locked for too long (two busy cores), and nothing was done then.
    """
    request = urllib.request.Request(
        f"{api}{path}",
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    for attempt in range(5):
        try:
            with urllib.request.urlopen(request, timeout=30) as reply:
                return json.loads(reply.read())
        except urllib.error.HTTPError as exc:
            if exc.code != 503 or attempt == 4:
                raise
            time.sleep(2.0)


def served_deployments(api: str) -> set[str]:
    flows = {f["id"]: f["name"] for f in api_call(api, "/flows/filter", {})}
    return {
        f"{flows.get(d['flow_id'], '?')}/{d['name']}"
        for d in api_call(api, "/deployments/filter", {})
    }


def tail(path: Path, lines: int = 60) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"({path} missing)"
    return "\n".join(text.splitlines()[-lines:])


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group (`serve` pauses its deployments and exits in a few
    seconds), SIGKILL it if it does not."""
    for signum, wait in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, signum)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """`electroloop up` on free ports, then `electroloop serve` until the three deployments are
    registered; `serve` is stopped before the servers (it talks to them on the way out)."""
    home = tmp_path_factory.mktemp("technician") / "runs"
    env = cli_environment(home)
    serve: subprocess.Popen[bytes] | None = None
    serve_log = home / "serve.log"
    try:
        started = subprocess.run(
            electroloop(home, "up", "--prefect-port", "0", "--mlflow-port", "0"),
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert started.returncode == 0, started.stdout + started.stderr
        services = json.loads((home / "services.json").read_text(encoding="utf-8"))
        prefect, mlflow = services["prefect"], services["mlflow"]
        assert prefect["url"] in started.stdout  # printed for the technician to open
        with serve_log.open("wb") as log:
            serve = subprocess.Popen(
                electroloop(home, "serve"),
                env=env,
                cwd=REPO,  # campaign and lab files in the form are relative to the project
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 120
        while (found := served_deployments(prefect["api_url"])) < DEPLOYMENTS:
            assert serve.poll() is None, f"serve exited:\n{tail(serve_log)}"
            assert time.monotonic() < deadline, f"only {found} registered:\n{tail(serve_log)}"
            time.sleep(1)
        yield Lab(home, prefect["url"], prefect["api_url"], mlflow["url"], serve_log)
    finally:
        if serve is not None:
            stop_group(serve)
        subprocess.run(electroloop(home, "down"), env=env, timeout=120, check=False)


def text_of(driver: Any) -> str:
    from selenium.webdriver.common.by import By

    return str(driver.find_element(By.TAG_NAME, "body").text)


def flow_run_state(api: str, run_id: str) -> dict[str, Any]:
    state: dict[str, Any] = api_call(api, f"/flow_runs/{run_id}")["state"]
    return state


def wait_for(
    what: str, check: Callable[[], Any], timeout: float, lab: Lab, interval: float = 1.0
) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, f"{what}: timed out\n{tail(lab.serve_log)}"
        time.sleep(interval)
    return found


def paused_state(lab: Lab, run_id: str, answered: set[str]) -> dict[str, Any] | None:
    """The run's state once it waits at a pause not yet answered (fails if the run ended)."""
    state = flow_run_state(lab.api, run_id)
    assert state["type"] not in FINAL, f"run ended {state}:\n{tail(lab.serve_log)}"
    if state["type"] == "PAUSED" and state["state_details"]["pause_key"] not in answered:
        return state
    return None


def candidates_of(lab: Lab, run_id: str, state: dict[str, Any]) -> list[str]:
    """The candidate ids of the pause's form, read from the schema the UI renders.

    Prefect's `pause_flow_run` sets the run PAUSED first and saves the form's schema just after,
    so the schema is waited for.
    """
    key = state["state_details"]["run_input_keyset"]["schema"]
    schema = wait_for("the pause's form", lambda: run_input(lab, run_id, key), 30, lab, 0.2)
    return [name for name in schema["properties"] if name != "stop_campaign"]


def run_input(lab: Lab, run_id: str, key: str) -> Any:
    """A flow run input by key, or None while it does not exist yet."""
    try:
        return api_call(lab.api, f"/flow_runs/{run_id}/input/{key}")
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise


def test_a_technician_starts_approves_and_finds_a_campaign_in_the_uis(
    lab: Lab, chromium: Any, tmp_path: Path
) -> None:
    from mlflow.tracking import MlflowClient
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    shots = tmp_path / "shots"
    shots.mkdir()
    wait = WebDriverWait(chromium, 60)
    try:
        # The printed URL opens Prefect's default (V2) UI: Deployments -> start-campaign / lab.
        chromium.set_window_size(1400, 1800)  # the whole form in one readable screenshot
        chromium.get(lab.prefect_url)
        wait.until(lambda d: "/dashboard" in d.current_url)
        ui = chromium.current_url.split("/dashboard")[0]  # http://127.0.0.1:PORT/v2
        wait.until(lambda d: d.find_element(By.XPATH, "//a[normalize-space()='Deployments']"))
        chromium.find_element(By.XPATH, "//a[normalize-space()='Deployments']").click()
        row = "//tr[.//*[normalize-space()='start-campaign']]//a[normalize-space()='lab']"
        wait.until(lambda d: d.find_element(By.XPATH, row)).click()
        wait.until(lambda d: d.find_element(By.XPATH, "//button[normalize-space()='Run']")).click()
        menu = "//*[@role='menuitem'][normalize-space()='Custom run']"
        wait.until(lambda d: d.find_element(By.XPATH, menu)).click()
        deployment = api_call(lab.api, "/deployments/name/start-campaign/lab")
        wait.until(lambda d: f"/deployments/deployment/{deployment['id']}/run" in d.current_url)
        controls = {}
        for title in FORM_FIELDS:
            label = wait.until(
                lambda d, t=title: d.find_element(
                    By.XPATH, f"//label[normalize-space()='{t}' or starts-with(., '{t} (')]"
                )
            )
            controls[title] = chromium.find_element(By.ID, label.get_attribute("for"))
        assert controls["Campaign file"].get_attribute("value") == "embedded demo"
        assert controls["Planner"].text == "ax"
        assert controls["Budget (trials)"].get_attribute("value") == "24"
        assert controls["Batch size"].get_attribute("value") == "4"
        assert controls["Approval required"].get_attribute("aria-checked") == "false"
        assert controls["Lab file"].get_attribute("value") == "simulated"
        chromium.execute_script("window.scrollTo(0, 0)")
        assert chromium.save_screenshot(str(shots / "technician_run_form.png"))

        # Start a short campaign that needs approval (as the form's Submit would).
        run = api_call(
            lab.api,
            f"/deployments/{deployment['id']}/create_flow_run",
            {"parameters": {"campaign": CAMPAIGN}},
        )
        run_id = run["id"]
        answered: set[str] = set()
        state = wait_for(
            "first pause", lambda: paused_state(lab, run_id, answered), 120, lab, interval=0.5
        )

        first = candidates_of(lab, run_id, state)  # the form exists before the UI opens it
        assert first == ["t0000", "t0001"]

        # The technician's view of the pause: run page, ⋮ menu -> Resume: the typed form.
        chromium.set_window_size(1400, 1400)
        chromium.get(f"{ui}/runs/flow-run/{run_id}")
        wait.until(lambda d: "Paused" in text_of(d))
        chromium.find_element(By.XPATH, "(//button[normalize-space()='Open menu'])[1]").click()
        resume = "//*[@role='menuitem'][normalize-space()='Resume']"
        wait.until(lambda d: d.find_element(By.XPATH, resume)).click()
        dialog = wait.until(
            lambda d: d.find_element(
                By.XPATH, "//*[@role='dialog'][contains(., 'Resume Flow Run')]"
            )
        )
        wait.until(lambda d: "t0000" in dialog.text and "Decision" in dialog.text)
        shown = dialog.text
        assert "Approve this batch before it is dosed" in shown
        assert all(candidate in shown for candidate in first)
        assert "EC mass fraction" in shown and "Stop the campaign" in shown
        assert chromium.save_screenshot(str(shots / "technician_approval.png"))

        # Approve the first batch in the UI: its defaults are the proposal, all 'approve'.
        keys = state["state_details"]["run_input_keyset"]
        dialog.find_element(By.XPATH, ".//button[normalize-space()='Resume']").click()
        answered.add(state["state_details"]["pause_key"])
        sent = wait_for(
            "the UI's answer", lambda: run_input(lab, run_id, keys["response"]), 30, lab
        )
        assert sent["stop_campaign"] is False
        assert {c: sent[c]["action"] for c in first} == {c: "approve" for c in first}

        # Every later pause is answered through the API (approve all) until the run completes.
        deadline = time.monotonic() + 240
        while (state := flow_run_state(lab.api, run_id))["type"] != "COMPLETED":
            assert state["type"] not in FINAL, f"run ended {state}:\n{tail(lab.serve_log)}"
            assert time.monotonic() < deadline, f"still {state['type']}\n{tail(lab.serve_log)}"
            pause = state["state_details"]["pause_key"]
            if state["type"] == "PAUSED" and pause not in answered:
                batch = candidates_of(lab, run_id, state)
                answer = {c: {"action": "approve"} for c in batch} | {"stop_campaign": False}
                reply = api_call(lab.api, f"/flow_runs/{run_id}/resume", {"run_input": answer})
                assert reply["status"] == "ACCEPT", reply
                answered.add(pause)
            time.sleep(0.5)
        assert len(answered) == 2  # two batches of two

        # MLflow on the `up` server: one finished campaign run with its four trial runs.
        client = MlflowClient(tracking_uri=lab.mlflow_url)
        experiment = client.get_experiment_by_name(STUDY)
        assert experiment is not None
        ids = [experiment.experiment_id]
        (campaign,) = client.search_runs(ids, "tags.`electroloop.kind` = 'campaign'")
        assert campaign.info.status == "FINISHED"
        assert campaign.data.tags["electroloop.campaign_id"].startswith("technician-ui-")
        trials = client.search_runs(ids, "tags.`electroloop.kind` = 'trial'")
        assert len(trials) == 4
        for trial in trials:
            assert trial.data.tags["mlflow.parentRunId"] == campaign.info.run_id
            assert trial.info.status == "FINISHED"

        # The finished run in the UI: Completed, its task runs, one log line per trial.
        chromium.set_window_size(1400, 1700)
        chromium.get(f"{ui}/runs/flow-run/{run_id}")
        wait.until(lambda d: re.search(r"trial\s+4/4 t0003", text_of(d)))
        page = text_of(chromium)
        assert "Completed" in page and "Task runs" in page
        for index in range(1, 5):
            assert re.search(rf"trial\s+{index}/4 t000{index - 1} .*mS/cm", page), page
        assert chromium.save_screenshot(str(shots / "technician_completed.png"))
    except BaseException:
        print(f"--- serve log ({lab.serve_log}) ---\n{tail(lab.serve_log)}")
        for log in sorted((lab.home / "logs").glob("*.log")):
            print(f"--- {log} ---\n{tail(log, 30)}")
        raise
    for shot in sorted(shots.iterdir()):  # only screenshots of a passing run go to the README
        assert shot.stat().st_size > 20_000, shot
        shutil.copyfile(shot, DOCS / shot.name)
