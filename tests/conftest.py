"""Fixtures shared by every test package.

``real_data`` fetches (once per cache) and imports the real datasets: the BIG-bench tasks
from RHF_DATA_DIR, defaulting to the workspace's shared copies (``../shared/data``, checked
by content like any source), and the paper's feedback from RHF_FEEDBACK_SOURCE, defaulting
to the workspace's shared copy. Only the tests that need the
real data request it (directly, through ``pytestmark``, or through a fixture such as the
tiny models, whose tokenizer is trained on the task text); pure tests use the small files in
``tests/assets/`` and run offline on an empty cache. Once the cache is filled, every test
runs offline.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "tests" / "assets"
SHARED_DATA = ROOT.parent / "shared" / "data"
SHARED_FEEDBACK = SHARED_DATA / "rich-feedback-reasoning"
SHARED_TASKS = SHARED_DATA / "bigbench-tasks"
if SHARED_DATA.is_dir() and not os.environ.get("RHF_DATA_DIR"):
    os.environ["RHF_DATA_DIR"] = os.pathsep.join([str(SHARED_DATA), str(SHARED_TASKS)])
BIGBENCH_TASKS_ENV = "RHF_BIGBENCH_TASKS"


def shared_bigbench_tasks() -> Path | None:
    """The folder of real BIG-bench tasks in BIG-bench's layout (``<task>/task.json``):
    $RHF_BIGBENCH_TASKS, else ``shared/data/bigbench-tasks`` in a ``shared`` folder beside
    the repository or one of its parents (a clean clone has ``<clone>/../shared/data``)."""
    if os.environ.get(BIGBENCH_TASKS_ENV):
        return Path(os.environ[BIGBENCH_TASKS_ENV])
    for parent in ROOT.parents:
        found = parent / "shared" / "data" / "bigbench-tasks"
        if found.is_dir():
            return found
    return None


@pytest.fixture(scope="session")
def bigbench_tasks() -> Path:
    """The shared BIG-bench task folders; a missing folder fails the test (no silent skip)."""
    found = shared_bigbench_tasks()
    if found is None or not (found / "navigate" / "task.json").is_file():
        pytest.fail(f"no BIG-bench task folders: set ${BIGBENCH_TASKS_ENV} or put "
                    "shared/data/bigbench-tasks beside the repository")
    return found


@pytest.fixture(scope="session")
def real_data() -> Path:
    """Fetch (once per cache) and import the real data; request it only where needed."""
    from feedback_data.files import paths
    from feedback_data.sources.fetch import fetch_bigbench, fetch_feedback
    from feedback_data.sources.paper_import import import_paper_feedback

    # No explicit source when neither is there: then any filled cache is used as it is
    # (offline), and an empty one is filled from the paper's repository.
    source = os.environ.get("RHF_FEEDBACK_SOURCE") or (
        str(SHARED_FEEDBACK) if SHARED_FEEDBACK.is_dir() else None)
    fetch_bigbench(log=lambda _m: None)
    fetch_feedback(source, log=lambda _m: None)
    import_paper_feedback(log=lambda _m: None)
    return paths.cache_dir()


@pytest.fixture(scope="session")
def raw_feedback_dir(real_data: Path) -> Path:
    from feedback_data.files import paths

    return paths.feedback_raw_dir()


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory, real_data: Path) -> Path:
    """A two-layer random Llama with the project's tiny tokenizer, saved once per session
    (the decoder-only stand-in for the causal tests)."""
    from training.model.tiny_model import build_tiny_llama

    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama") / "model", seed=0)


@pytest.fixture(autouse=True)
def fresh_accelerate_state():
    """accelerate keeps one process-wide state: a test that built an Accelerator with another
    precision (TRL's trainers, the bf16 test) would make the next one refuse to start."""
    yield
    import sys

    if "accelerate" in sys.modules:
        from accelerate.state import AcceleratorState

        AcceleratorState._reset_state(reset_partial_state=True)


@pytest.fixture(scope="module", autouse=True)
def _task_registry_per_module():
    """A task YAML that a test module loads registers its task (get_task); it is removed
    when the module ends, so the next modules see the built-in tasks only."""
    from feedback_data.tasks.registry import TASKS

    before = set(TASKS.names())
    yield
    for name in set(TASKS.names()) - before:
        TASKS.unregister(name)
