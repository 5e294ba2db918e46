"""The real web UI in Debian's chromium (driven by Playwright): an annotator's edit is pulled
exactly as typed."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from annotation.campaign import pull_feedback, push_chains, setup_project
from feedback_data import labeling_config as lc

pytestmark = [pytest.mark.labelstudio, pytest.mark.browser]
CHROMIUM = Path(os.environ.get("RHF_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


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


def _choice(page, value: str):
    """The checkbox label of a choice (its text is followed by a hotkey hint)."""
    return page.locator("label").filter(has_text=re.compile(rf"^{re.escape(value)}\b"))


def _wait_for_annotation(client, pid: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(t.get("annotations") for t in client.export(pid)):
            return
        time.sleep(0.5)
    raise AssertionError("the submitted annotation never reached the server")


def test_annotator_edit_is_pulled_exactly(browser, label_studio, ls_client, project_title,
                                          chains, examples):
    chain = chains[0]
    pid = setup_project(ls_client, project_title)
    push_chains(ls_client, pid, [chain], examples, progress=False)
    (task,) = ls_client.iter_tasks(pid)

    page = browser.new_page(viewport={"width": 1400, "height": 1800})
    page.set_default_timeout(60_000)
    page.goto(f"{label_studio.url}/user/login")
    page.fill("input[name=email]", label_studio.username)
    page.fill("input[name=password]", label_studio.password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{label_studio.url}/")
    page.goto(f"{label_studio.url}/projects/{pid}/data?task={task['id']}")

    correction = page.locator(f"textarea[name={lc.CORRECTION}]")
    correction.wait_for()
    assert correction.input_value() == chain.text  # pre-filled with the model's output

    _choice(page, lc.ERROR_CHOICES[0]).click()  # Factual Error
    _choice(page, lc.ERROR_CHOICES[1]).click()  # Missing Facts
    _choice(page, lc.step_choice(2)).click()
    typed = "The answer is no because The sea is 3,040 m deep.\nA diver reached 318 m."
    correction.fill(typed)
    reason = "Step 2 names the wrong gulf."
    page.locator(f"textarea[name={lc.REASONS['FE']}]").fill(reason)
    page.get_by_role("button", name="Submit").click()
    _wait_for_annotation(ls_client, pid)
    page.close()

    (item,) = pull_feedback(ls_client, pid)
    fb = item.feedback
    assert fb.correction.text == typed
    assert fb.correction.answer == "no"
    assert fb.error_types == ["FE", "MF"]
    assert fb.error_steps == [2]
    assert fb.reasons == {"FE": reason}
    assert fb.annotator == label_studio.username and fb.source == "human"
    assert fb.flags == []
