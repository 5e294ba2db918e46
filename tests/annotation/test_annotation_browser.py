"""The real web UI in Debian's chromium (driven by Playwright): what an annotator types, ticks
and rates is pulled exactly; the page explains itself; the model's pre-annotation is shown and
can be changed, and the pulled record says which fields were kept.

Set RHF_UPDATE_SCREENSHOT=1 to rewrite docs/annotation_page.png from this run."""

from __future__ import annotations

import os
import re
import threading
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect

from annotation import labeling_config as lc
from annotation.campaign import connect_ml_backend, pull_feedback, push_chains, setup_project
from annotation.server import free_port

pytestmark = [pytest.mark.labelstudio, pytest.mark.browser]
CHROMIUM = Path(os.environ.get("RHF_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
expect.set_options(timeout=30_000)
DOCS_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "annotation_page.png"


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.fail(f"chromium not found at {CHROMIUM}: run `make browser` "
                    "(scripts/ensure_chromium.sh)", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS,
                                     headless=True)
        yield browser
        browser.close()


def _choice(page, value: str, nth: int = 0):
    """The label of a choice (its text is followed by a hotkey hint); ``nth`` among equals."""
    return page.locator("label").filter(has_text=re.compile(rf"^{re.escape(value)}\b")).nth(nth)


def _checked(page, value: str, nth: int = 0) -> bool:
    return _choice(page, value, nth).locator("input").is_checked()


def _wait_for_annotation(client, pid: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(t.get("annotations") for t in client.export(pid)):
            return
        time.sleep(0.5)
    raise AssertionError("the submitted annotation never reached the server")


def _open_task(browser, server, pid: int, task_id: int):
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    page.set_default_timeout(60_000)
    page.goto(f"{server.url}/user/login")
    page.fill("input[name=email]", server.username)
    page.fill("input[name=password]", server.password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server.url}/")
    page.goto(f"{server.url}/projects/{pid}/data?task={task_id}")
    page.locator(f"textarea[name={lc.CORRECTION}]").wait_for()
    return page


def test_annotator_rates_steps_and_pull_equals_typed(browser, label_studio, ls_client,
                                                     project_title, chains, examples, tmp_path):
    chain = chains[0]
    assert len(chain.steps) == 2
    pid = setup_project(ls_client, project_title)
    push_chains(ls_client, pid, [chain], examples, progress=False)
    (task,) = ls_client.iter_tasks(pid)
    page = _open_task(browser, label_studio, pid, task["id"])

    correction = page.locator(f"textarea[name={lc.CORRECTION}]")
    assert correction.input_value() == chain.text  # pre-filled with the model's output
    for code, definition in lc.ERROR_DEFINITIONS.items():  # definitions on the page
        expect(page.get_by_text(f"{lc.ERROR_NAMES[code]}: {definition}", exact=True)) \
            .to_be_visible()
    for n, step in enumerate(chain.steps, start=1):  # each step in its own rating row
        # its line in the chain view and its rating row
        assert page.get_by_text(f"Step {n}: {step}", exact=True).count() == 2
    reasons = {code: page.locator(f"textarea[name={tag}]") for code, tag in lc.REASONS.items()}
    for box in reasons.values():  # nothing ticked yet: no description box
        expect(box).to_be_hidden()

    _choice(page, "Correct", 0).click()  # step 1
    _choice(page, "Wrong", 1).click()  # step 2
    _choice(page, lc.step_choice(2)).click()
    typed = "The answer is no because The sea is 3,040 m deep.\nA diver reached 318 m."
    correction.fill(typed)
    page.get_by_role("button", name="Submit").click()  # no error type ticked: refused
    expect(page.get_by_text(lc.REQUIRED_TYPES_MESSAGE)).to_be_visible()
    page.get_by_role("button", name="OK").click()
    time.sleep(1)
    assert not any(t.get("annotations") for t in ls_client.export(pid))

    _choice(page, lc.ERROR_CHOICES[0]).click()  # Factual Error
    _choice(page, lc.ERROR_CHOICES[1]).click()  # Missing Facts
    for code, box in reasons.items():  # a description box only for each ticked type
        if code in ("FE", "MF"):
            expect(box).to_be_visible()
        else:
            expect(box).to_be_hidden()
    reason = "Step 2 names the wrong gulf."
    reasons["FE"].fill(reason)

    page.set_viewport_size({"width": 1440, "height": 1900})
    shot = DOCS_SCREENSHOT if os.environ.get("RHF_UPDATE_SCREENSHOT") else tmp_path / "page.png"
    page.screenshot(path=str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page.get_by_role("button", name="Submit").click()
    _wait_for_annotation(ls_client, pid)
    page.close()

    (item,) = pull_feedback(ls_client, pid)
    fb = item.feedback
    assert fb.step_ratings == ["correct", "wrong"] and fb.first_wrong_step == 1
    assert fb.correction.text == typed
    assert fb.correction.answer == "no"
    assert fb.error_types == ["FE", "MF"]
    assert fb.error_steps == [2]
    assert fb.reasons == {"FE": reason}
    assert fb.annotator == label_studio.username and fb.source == "human"
    assert fb.annotator_id == ls_client.whoami()["id"]
    assert fb.lead_time is not None and fb.lead_time > 0 and fb.created_at
    assert fb.flags == [] and fb.prefill is None and fb.schema_version == 2


def _critic(prompt: str, _j: int) -> str:
    """A stand-in critic: every chain has a factual error, located in step 2."""
    return "Step 2: the gulf is wrong." if prompt.startswith("Describe") else "factual error"


@pytest.fixture
def ml_backend_url():
    """`rhf serve`'s app with a scripted critic, served over HTTP on a free port."""
    import uvicorn

    from inference.toy_models import ScriptedGenerator
    from pipeline.serve import create_app

    critic = ScriptedGenerator(_critic)
    critic.info = {"path": "/runs/critic/final", "run": {"commit": "feedc0ffee12"}}
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(model=critic), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def test_model_pre_annotation_is_seen_changed_and_recorded(browser, label_studio, ls_client,
                                                           project_title, chains, examples,
                                                           ml_backend_url):
    import httpx

    chain = chains[0]
    pid = setup_project(ls_client, project_title)
    push_chains(ls_client, pid, [chain], examples, progress=False)
    version = connect_ml_backend(ls_client, pid, ml_backend_url)
    assert version == httpx.post(f"{ml_backend_url}/setup", json={}).json()["model_version"]
    (task,) = ls_client.iter_tasks(pid)
    (pred,) = ls_client.task(task["id"])["predictions"]
    assert pred["model_version"] == version
    assert {r["from_name"]: r["value"]["choices"] for r in pred["result"]} == {
        lc.ERROR_TYPES: ["Factual Error"], lc.ERROR_STEPS: ["Step 2"],
        lc.step_rating_tag(1): ["Wrong"]}

    page = _open_task(browser, label_studio, pid, task["id"])
    assert _checked(page, "Factual Error") and _checked(page, "Wrong", 1)  # seen pre-filled
    assert _checked(page, lc.step_choice(2))
    assert not _checked(page, "Missing Facts")
    _choice(page, "Factual Error").click()  # the annotator disagrees on the type
    _choice(page, "Missing Facts").click()
    _choice(page, "Correct", 0).click()  # and rates step 1 (step 2 kept as Wrong)
    page.locator(f"textarea[name={lc.REASONS['MF']}]").fill("Step 2 lacks the depth limit.")
    page.get_by_role("button", name="Submit").click()
    _wait_for_annotation(ls_client, pid)
    page.close()

    (item,) = pull_feedback(ls_client, pid)
    fb = item.feedback
    assert fb.error_types == ["MF"] and fb.step_ratings == ["correct", "wrong"]
    assert fb.prefill is not None and fb.prefill.model_version == version
    assert (fb.prefill.accepted, fb.prefill.changed) == (["error_steps", "step_ratings"],
                                                         ["error_types"])


def test_step_ratings_that_contradict_the_ticked_steps_are_flagged_on_pull(
        browser, label_studio, ls_client, project_title, chains, examples):
    """The page asks twice where the errors are (a rating per step, and the error-step
    choices). An annotator who rates step 1 Correct and ticks it as wrong gets a pulled record
    flagged step_ratings_disagree, counted on pull and left out of the step-level export."""
    from annotation.convert import RATINGS_DISAGREE, convert
    from feedback_data.exports.formats import build

    chain = chains[0]
    pid = setup_project(ls_client, project_title)
    push_chains(ls_client, pid, [chain], examples, progress=False)
    (task,) = ls_client.iter_tasks(pid)
    page = _open_task(browser, label_studio, pid, task["id"])
    _choice(page, "Correct", 0).click()  # step 1: Correct ...
    _choice(page, "Wrong", 1).click()
    _choice(page, lc.step_choice(1)).click()  # ... and ticked as the step with an error
    _choice(page, lc.ERROR_CHOICES[0]).click()  # Factual Error
    page.locator(f"textarea[name={lc.REASONS['FE']}]").fill("Step 1 is false.")
    page.get_by_role("button", name="Submit").click()
    _wait_for_annotation(ls_client, pid)
    page.close()

    (item,) = pull_feedback(ls_client, pid)
    fb = item.feedback
    assert fb.step_ratings == ["correct", "wrong"] and fb.error_steps == [1]
    assert fb.flags == [RATINGS_DISAGREE]
    conversion = convert(ls_client.export(pid), {})
    assert conversion.flagged == {RATINGS_DISAGREE: 1}
    assert f"flagged {RATINGS_DISAGREE}: 1" in conversion.summary()
    rows, report = build("prm", [item])
    assert rows == [] and report.left_out == {RATINGS_DISAGREE: 1}
