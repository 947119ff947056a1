"""What a lab technician does, in a real browser: `electroloop up`, `electroloop serve`, open the
Prefect UI, find the start-campaign deployment's custom-run form, choose a campaign file from its
drop-down, override a few of its values, press **Submit**, follow the run from the deployment's
page, reject, edit and approve the first batch in the UI's Resume dialog, and find the campaign
in the run's logs, the event log and MLflow.

Everything runs as the technician runs it: the CLI as subprocesses in their own home, no test
harness server. The three screenshots the README shows (docs/technician_*.png) are written only
when the whole test passes. About 2 min on two cores.
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
EMBEDDED = "embedded demo"
FROM_FILE = "from the campaign file"
CAMPAIGN_FILE = "examples/campaigns/conductivity.toml"  # chosen in the drop-down
FILE_SEED = 7  # the file's seed: the form's Seed box is left empty
# What the technician fills in (the rest of the form keeps the campaign file's values).
TYPED = {"Campaign name": "technician-ui", "Budget (trials)": "4", "Batch size": "3"}
CHOSEN_PLANNER = "sobol"
PAUSE_MINUTES = "5"
SENT = {  # the run's parameters that Submit must produce
    "campaign_file": CAMPAIGN_FILE,
    "name": "technician-ui",
    "planner": "sobol",
    "budget": 4,
    "batch_size": 3,
    "approval_required": True,
    "approval_timeout_minutes": 5,
    "lab_file": "",  # the campaign file's lab
}
EDITED = {"EC mass fraction": "0.4", "EMC mass fraction": "0.3", "DMC mass fraction": "0.3"}
EDITED_MOLALITY = "1.1"
STUDY = "electrolyte-conductivity"  # the campaign file's MLflow experiment
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


Find = Callable[[], Any]  # finds an element afresh: React may re-render it at any time


def labelled(driver: Any, title: str, scope: Find | None = None) -> Find:
    """The form control a label names (Prefect appends ' (Optional)' to optional fields)."""
    from selenium.webdriver.common.by import By

    xpath = f".//label[normalize-space()='{title}' or starts-with(normalize-space(), '{title} (')]"

    def find() -> Any:
        label = (scope() if scope else driver).find_element(By.XPATH, xpath)
        return driver.find_element(By.ID, label.get_attribute("for"))

    return find


def in_section(driver: Any, dialog: Find, candidate: str, title: str) -> Find:
    """A control of one candidate's section of the review form: the first label titled so
    after the section's own label (which starts with the candidate id)."""
    from selenium.webdriver.common.by import By

    def find() -> Any:
        section = dialog().find_element(
            By.XPATH, f".//label[starts-with(normalize-space(), '{candidate}:')]"
        )
        label = section.find_element(
            By.XPATH, f"following::label[starts-with(normalize-space(), '{title}')][1]"
        )
        return driver.find_element(By.ID, label.get_attribute("for"))

    return find


def campaign_file_select(driver: Any) -> Find:
    """The campaign file drop-down: the select under the field's 'Choose' tab."""
    from selenium.webdriver.common.by import By

    return lambda: driver.find_element(
        By.XPATH,
        "//label[starts-with(normalize-space(), 'Campaign file (')]"
        "/ancestor::*[.//*[@role='tabpanel']][1]"
        "//*[@role='tabpanel']//button[@aria-haspopup='listbox']",
    )


def click(wait: Any, find: Find) -> None:
    """Click an element once it is there and clickable (not re-rendered, not covered)."""

    def clicked(_: Any) -> bool:
        find().click()
        return True

    wait.until(clicked)


def text_is(wait: Any, find: Find, text: str) -> None:
    wait.until(lambda _: find().text.strip() == text)


def option(driver: Any, name: str) -> Find:
    from selenium.webdriver.common.by import By

    return lambda: driver.find_element(By.XPATH, f"//*[@role='option'][normalize-space()='{name}']")


def options_of(driver: Any, select: Find, wait: Any) -> list[str]:
    """The options a select offers (opened, read, closed again with Escape)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    def rendered(d: Any) -> list[str] | None:  # the list opens before its texts are drawn
        texts = [o.text.strip() for o in d.find_elements(By.XPATH, "//*[@role='option']")]
        return texts if texts and all(texts) else None

    click(wait, select)
    found = wait.until(rendered)
    driver.switch_to.active_element.send_keys(Keys.ESCAPE)
    wait.until(lambda d: not d.find_elements(By.XPATH, "//*[@role='option']"))
    return list(found)


def choose(driver: Any, select: Find, name: str, wait: Any) -> None:
    """Pick an option of a Prefect select (a button opening a list of role=option items)."""
    click(wait, select)
    click(wait, option(driver, name))
    text_is(wait, select, name)


def type_into(control: Find, text: str, wait: Any) -> None:
    """Replace a field's value by typing, as a person does (React sees every key)."""
    from selenium.webdriver.common.keys import Keys

    def typed(_: Any) -> bool:
        element = control()
        if element.get_attribute("value") != text:
            element.send_keys(Keys.CONTROL, "a")
            element.send_keys(text)
        return bool(control().get_attribute("value") == text)

    wait.until(typed)


def press_until(
    what: str, press: Callable[[], None], done: Callable[[], Any], lab: Lab, timeout: float
) -> Any:
    """Press a button until `done()` is truthy: pressed again only when nothing happened for
    45 s (a 503 from the busy server, shown as a toast, leaves the page as it was)."""
    deadline = time.monotonic() + timeout
    press()
    pressed = time.monotonic()
    while not (found := done()):
        assert time.monotonic() < deadline, f"{what}: timed out\n{tail(lab.serve_log)}"
        if time.monotonic() - pressed > 45:
            press()
            pressed = time.monotonic()
        time.sleep(1.0)
    return found


def wait_in_ui(
    driver: Any, what: str, check: Callable[[Any], Any], timeout: float, lab: Lab
) -> Any:
    """Wait for the page to show something; reloaded every 20 s in case it stopped polling."""
    from selenium.common.exceptions import WebDriverException

    deadline = time.monotonic() + timeout
    loaded = time.monotonic()
    while True:
        try:
            if found := check(driver):
                return found
        except WebDriverException:  # re-rendered under our feet: look again
            pass
        assert time.monotonic() < deadline, f"{what}: timed out\n{tail(lab.serve_log)}"
        if time.monotonic() - loaded > 20:
            driver.refresh()
            loaded = time.monotonic()
        time.sleep(0.5)


def runs_named(lab: Lab, name: str) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = api_call(
        lab.api, "/flow_runs/filter", {"flow_runs": {"name": {"any_": [name]}}}
    )
    return runs


def test_a_technician_starts_reviews_and_finds_a_campaign_in_the_uis(
    lab: Lab, chromium: Any, tmp_path: Path
) -> None:
    from mlflow.tracking import MlflowClient
    from selenium.common.exceptions import (
        ElementClickInterceptedException,
        ElementNotInteractableException,
        NoSuchElementException,
        StaleElementReferenceException,
    )
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from electroloop.orchestrator.events import BatchReviewed, DosingStarted
    from electroloop.orchestrator.store import CampaignStore

    shots = tmp_path / "shots"
    shots.mkdir()
    wait = WebDriverWait(
        chromium,
        90,
        ignored_exceptions=(
            NoSuchElementException,
            StaleElementReferenceException,
            ElementClickInterceptedException,
            ElementNotInteractableException,
        ),
    )
    try:
        # The printed URL opens Prefect's default (V2) UI: Deployments -> start-campaign / lab.
        chromium.set_window_size(1400, 1800)  # the whole form in one readable screenshot
        chromium.get(lab.prefect_url)
        wait.until(lambda d: "/dashboard" in d.current_url)
        click(wait, lambda: chromium.find_element(By.XPATH, "//a[normalize-space()='Deployments']"))
        row = "//tr[.//*[normalize-space()='start-campaign']]//a[normalize-space()='lab']"
        click(wait, lambda: chromium.find_element(By.XPATH, row))
        click(wait, lambda: chromium.find_element(By.XPATH, "//button[normalize-space()='Run']"))
        menu = "//*[@role='menuitem'][normalize-space()='Custom run']"
        click(wait, lambda: chromium.find_element(By.XPATH, menu))
        deployment = api_call(lab.api, "/deployments/name/start-campaign/lab")
        wait.until(lambda d: f"/deployments/deployment/{deployment['id']}/run" in d.current_url)

        # The untouched form: the campaign file is a choice, its values are the defaults.
        wait.until(lambda _: labelled(chromium, "Lab file")().get_attribute("value") == "")
        campaign_file = campaign_file_select(chromium)
        text_is(wait, campaign_file, EMBEDDED)
        examples = sorted((REPO / "examples/campaigns").rglob("*.toml"))
        offered = [EMBEDDED, *(p.relative_to(REPO).as_posix() for p in examples)]
        assert options_of(chromium, campaign_file, wait) == offered
        planner = labelled(chromium, "Planner")
        text_is(wait, planner, FROM_FILE)
        for title in ("Budget (trials)", "Batch size", "Seed"):  # empty: the file's value
            assert labelled(chromium, title)().get_attribute("value") == "", title
        approval = labelled(chromium, "Approval required")
        assert approval().get_attribute("aria-checked") == "false"

        # Choose a file, override planner, budget and batch size, leave its seed, press Submit.
        choose(chromium, campaign_file, CAMPAIGN_FILE, wait)
        type_into(labelled(chromium, "Pause timeout (minutes)"), PAUSE_MINUTES, wait)
        for title, text in TYPED.items():
            type_into(labelled(chromium, title), text, wait)
        choose(chromium, planner, CHOSEN_PLANNER, wait)
        click(wait, approval)
        wait.until(lambda _: approval().get_attribute("aria-checked") == "true")
        run_name = labelled(chromium, "Run Name")().get_attribute("value")
        assert run_name
        chromium.execute_script("window.scrollTo(0, 0)")
        assert chromium.save_screenshot(str(shots / "technician_run_form.png"))
        submit = "//button[normalize-space()='Submit']"
        press_until(
            "Submit",
            lambda: click(wait, lambda: chromium.find_element(By.XPATH, submit)),
            lambda: runs_named(lab, run_name),
            lab,
            180,
        )

        # Follow the run from the deployment's page, where Submit leads.
        wait.until(lambda d: d.current_url.split("?")[0].endswith(deployment["id"]))
        link = f"//a[normalize-space()='{run_name}']"
        wait_in_ui(
            chromium, "the run in the list", lambda d: d.find_elements(By.XPATH, link), 120, lab
        )
        click(wait, lambda: chromium.find_element(By.XPATH, link))
        wait.until(lambda d: "/runs/flow-run/" in d.current_url)
        run_id = chromium.current_url.split("/runs/flow-run/")[1].split("?")[0].strip("/")
        (run,) = runs_named(lab, run_name)
        assert run["id"] == run_id
        sent = run["parameters"]["campaign"]
        assert SENT.items() <= sent.items(), sent
        assert sent.get("seed") is None  # the empty box: the campaign file's seed

        answered: set[str] = set()
        state = wait_for(
            "first pause", lambda: paused_state(lab, run_id, answered), 180, lab, interval=0.5
        )
        first = candidates_of(lab, run_id, state)  # the form exists before the UI opens it
        assert first == ["t0000", "t0001", "t0002"]

        # The technician's view of the pause: run page, ⋮ menu -> Resume: the typed form.
        chromium.set_window_size(1400, 1400)
        chromium.refresh()  # as a technician told the run waits would; the page polls slowly
        wait_in_ui(chromium, "the run paused", lambda d: "Paused" in text_of(d), 90, lab)
        menu_button = "(//button[normalize-space()='Open menu'])[1]"
        click(wait, lambda: chromium.find_element(By.XPATH, menu_button))
        resume = "//*[@role='menuitem'][normalize-space()='Resume']"
        click(wait, lambda: chromium.find_element(By.XPATH, resume))
        dialog_xpath = "//*[@role='dialog'][contains(., 'Resume Flow Run')]"

        def dialog() -> Any:
            return chromium.find_element(By.XPATH, dialog_xpath)

        wait.until(lambda _: "t0000" in dialog().text and "Decision" in dialog().text)
        shown = dialog().text
        assert "Approve this batch before it is dosed" in shown
        assert all(candidate in shown for candidate in first)
        assert "EC mass fraction" in shown and "Stop the campaign" in shown

        # Reject the first candidate, edit the second, approve the third (the default).
        choose(chromium, in_section(chromium, dialog, "t0000", "Decision"), "reject", wait)
        type_into(in_section(chromium, dialog, "t0000", "Reason"), "cloudy EC bottle", wait)
        choose(chromium, in_section(chromium, dialog, "t0001", "Decision"), "edit", wait)
        for title, text in EDITED.items():
            type_into(in_section(chromium, dialog, "t0001", title), text, wait)
        molality = in_section(chromium, dialog, "t0001", "LiPF6 molality")
        type_into(molality, EDITED_MOLALITY, wait)
        type_into(in_section(chromium, dialog, "t0001", "Reason"), "less DMC", wait)
        text_is(wait, in_section(chromium, dialog, "t0002", "Decision"), "approve")
        chromium.execute_script(
            "arguments[0].scrollIntoView({block: 'start'})",
            dialog().find_element(By.XPATH, ".//label[starts-with(normalize-space(), 't0000:')]"),
        )
        assert chromium.save_screenshot(str(shots / "technician_approval.png"))
        keys = state["state_details"]["run_input_keyset"]
        button = ".//button[normalize-space()='Resume']"
        answer = press_until(
            "the UI's answer",
            lambda: click(wait, lambda: dialog().find_element(By.XPATH, button)),
            lambda: run_input(lab, run_id, keys["response"]),
            lab,
            120,
        )
        answered.add(state["state_details"]["pause_key"])
        assert answer["stop_campaign"] is False
        assert {c: answer[c]["action"] for c in first} == {
            "t0000": "reject",
            "t0001": "edit",
            "t0002": "approve",
        }
        assert answer["t0000"]["reason"] == "cloudy EC bottle"
        edited = {"EC": 0.4, "EMC": 0.3, "DMC": 0.3, "molality": 1.1}
        assert {k: answer["t0001"][k] for k in edited} == edited

        # Every later pause is answered through the API (approve all) until the run completes.
        deadline = time.monotonic() + 300
        while (state := flow_run_state(lab.api, run_id))["type"] != "COMPLETED":
            assert state["type"] not in FINAL, f"run ended {state}:\n{tail(lab.serve_log)}"
            assert time.monotonic() < deadline, f"still {state['type']}\n{tail(lab.serve_log)}"
            pause = state["state_details"]["pause_key"]
            if state["type"] == "PAUSED" and pause not in answered:
                batch = candidates_of(lab, run_id, state)
                reply = {c: {"action": "approve"} for c in batch} | {"stop_campaign": False}
                result = api_call(lab.api, f"/flow_runs/{run_id}/resume", {"run_input": reply})
                assert result["status"] == "ACCEPT", result
                answered.add(pause)
            time.sleep(0.5)
        # budget 4: the edit and the approved one of the first batch, then a batch of two
        assert len(answered) == 2

        # The event log: the rejected candidate abandoned, never dosed; the edit run instead.
        with CampaignStore(lab.home / "campaigns.sqlite") as store:
            (campaign_id,) = [c for c in store.campaign_ids() if c.startswith("technician-ui-")]
            log = store.state(campaign_id)
            events = store.events(campaign_id)
            spec = store.started_spec(campaign_id)
        assert (spec["planner"], spec["budget"], spec["batch_size"]) == ("sobol", 4, 3)
        assert spec["seed"] == FILE_SEED and spec["study"] == STUDY  # kept from the file
        review = next(e for e in events if isinstance(e, BatchReviewed))
        assert review.decisions == {"t0000": "reject", "t0001": "edit", "t0002": "approve"}
        assert log.abandoned["t0000"].endswith("cloudy EC bottle")
        run_edit = log.observations["t0001-edit"]
        assert run_edit.formulation.fractions == pytest.approx({"EC": 0.4, "EMC": 0.3, "DMC": 0.3})
        assert run_edit.formulation.molality == pytest.approx(1.1)
        observed = set(log.observations)
        assert len(observed) == 4 and {"t0001-edit", "t0002"} <= observed
        assert not observed & {"t0000", "t0001"}
        dosed = {e.candidate_id for e in events if isinstance(e, DosingStarted)}
        assert dosed == observed  # the rejected and the replaced candidate never dosed

        # MLflow on the `up` server: one finished campaign run with its four trial runs.
        client = MlflowClient(tracking_uri=lab.mlflow_url)
        experiment = client.get_experiment_by_name(STUDY)
        assert experiment is not None
        ids = [experiment.experiment_id]
        (campaign,) = client.search_runs(ids, "tags.`electroloop.kind` = 'campaign'")
        assert campaign.info.status == "FINISHED"
        assert campaign.data.tags["electroloop.campaign_id"] == campaign_id
        trials = client.search_runs(ids, "tags.`electroloop.kind` = 'trial'")
        assert {t.data.tags["electroloop.candidate_id"] for t in trials} == observed
        for trial in trials:
            assert trial.data.tags["mlflow.parentRunId"] == campaign.info.run_id
            assert trial.info.status == "FINISHED"

        # The run in the UI, followed to Completed: its task runs, one log line per trial.
        chromium.set_window_size(1400, 1700)
        chromium.refresh()
        last = max(observed, key=lambda c: log.trial_index[c])
        last_line = rf"trial\s+\d+/4 {re.escape(last)} "
        wait_in_ui(chromium, "the last trial", lambda d: re.search(last_line, text_of(d)), 120, lab)
        wait_in_ui(chromium, "Completed", lambda d: "Completed" in text_of(d), 60, lab)
        page = text_of(chromium)
        assert "Task runs" in page
        for candidate in observed:
            assert re.search(rf"trial\s+\d+/4 {re.escape(candidate)} .*mS/cm", page), candidate
        assert chromium.save_screenshot(str(shots / "technician_completed.png"))
    except BaseException:
        print(f"--- serve log ({lab.serve_log}) ---\n{tail(lab.serve_log)}")
        for log_file in sorted((lab.home / "logs").glob("*.log")):
            print(f"--- {log_file} ---\n{tail(log_file, 30)}")
        raise
    for shot in sorted(shots.iterdir()):  # only screenshots of a passing run go to the README
        assert shot.stat().st_size > 20_000, shot
        shutil.copyfile(shot, DOCS / shot.name)
