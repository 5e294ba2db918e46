"""Task specs: a YAML file with no code; its loaders (JSONL, a datasets folder), splits and
shots; and bad specs, each one line naming the file and the field, with nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from feedback_data.errors import DataError
from feedback_data.registry import UnknownName
from feedback_data.tasks.data import dev_set, shot_pool, split_examples, task_summary
from feedback_data.tasks.loaders import read_questions
from feedback_data.tasks.prompts import default_shots
from feedback_data.tasks.registry import TASKS, get_task
from feedback_data.tasks.spec import SpecError, load_spec_file

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def jsonl(path: Path, rows: list[dict]) -> Path:
    return write(path, "".join(json.dumps(r) + "\n" for r in rows))


@pytest.fixture(autouse=True)
def _forget_specs():
    """Specs a test registers are taken out again (the registry lives for the process)."""
    before = set(TASKS.names())
    yield
    for name in set(TASKS.names()) - before:
        TASKS.unregister(name)


def mc_task(tmp_path: Path, rows: list[dict], name: str = "colours") -> Path:
    jsonl(tmp_path / "q.jsonl", rows)
    return write(tmp_path / "task.yaml", f"name: {name}\nloader: {{jsonl: q.jsonl}}\n"
                 "answer: {type: multiple_choice}\nshots: {from: none}\n")


def test_a_jsonl_task_normalizes_answers_and_shows_its_options(tmp_path):
    rows = [{"id": i, "question": f"Colour {i}?", "options": ["red", "green", "blue"],
             "answer": ans} for i, ans in enumerate(["green", "C", 0, "(B)"])]
    rows.append({"id": 9, "question": "Colour 9?", "options": ["red", "green"]})  # unlabelled
    spec = get_task(str(mc_task(tmp_path, rows)))
    every = split_examples(spec, "all")
    assert [e.answer for e in every] == ["B", "C", "A", "B", None]
    assert every[0].id == "colours/0"
    assert every[0].question == "Colour 0? Options: (A) red (B) green (C) blue"
    assert every[0].meta["options"] == ["red", "green", "blue"]
    assert get_task("colours") is spec  # registered by name
    summary = task_summary("colours")
    assert summary["unlabelled"] == 1 and summary["questions"] == 5
    assert summary["dev_size"] + summary["train_size"] == 5


def test_dev_split_is_a_stable_hash_of_the_id(tmp_path):
    rows = [{"question": f"Is {i} even?", "answer": "yes" if i % 2 == 0 else "no"}
            for i in range(200)]
    jsonl(tmp_path / "q.jsonl", rows)
    spec = get_task(str(write(tmp_path / "t.yaml", "name: evens\nloader: {jsonl: q.jsonl}\n"
                                                   "dev_fraction: 0.25\n")))
    dev, train = dev_set(spec), split_examples(spec, "train")
    assert 30 <= len(dev) <= 70 and len(dev) + len(train) == 200
    assert not {e.id for e in dev} & {e.id for e in train}
    # the same question is on the same side however many others the file holds
    jsonl(tmp_path / "q2.jsonl", rows[:50])
    small = get_task(str(write(tmp_path / "t2.yaml", "name: evens-small\n"
                                                     "loader: {jsonl: q2.jsonl}\n"
                                                     "dev_fraction: 0.25\n")))
    assert {e.question for e in dev_set(small)} == {e.question for e in dev if
                                                    e.question in {r["question"]
                                                                   for r in rows[:50]}}


def test_a_datasets_folder_with_renamed_fields_and_free_form_answers(tmp_path):
    from datasets import Dataset, DatasetDict

    ds = Dataset.from_list([{"query": "2 + 2?", "label": "four", "why": "Two and two."},
                            {"query": "1 + 2?", "label": "3", "why": "One and two."}])
    DatasetDict({"test": ds}).save_to_disk(str(tmp_path / "ds"))
    spec_file = write(tmp_path / "t.yaml", "name: sums\nloader: {hf: ds, split: test}\n"
                      "fields: {question: query, answer: label, explanation: why}\n"
                      "answer: {type: free_form, normalizer: number}\n"
                      "shots: {from: data}\ndev_fraction: 0\n")
    spec = get_task(str(spec_file))
    assert [(e.question, e.answer, e.source) for e in split_examples(spec, "all")] == [
        ("2 + 2?", "4", "dataset"), ("1 + 2?", "3", "dataset")]
    assert [s.explanation for s in shot_pool(spec)] == ["Two and two.", "One and two."]
    assert [s.answer for s in default_shots("sums", 2)] == ["4", "3"]
    with pytest.raises(ValueError, match="only 2 shots available for sums"):
        default_shots("sums", 3)
    no_split = write(tmp_path / "t2.yaml", "name: sums2\nloader: {hf: ds}\n"
                     "fields: {question: query, answer: label}\n"
                     "answer: {type: free_form, normalizer: number}\n")
    with pytest.raises(DataError, match="splits test: give loader.split"):
        split_examples(str(no_split), "all")


def test_shots_from_a_file_may_not_be_dev_questions(tmp_path):
    rows = [{"question": f"Is {i} odd?", "answer": "no"} for i in range(20)]
    jsonl(tmp_path / "q.jsonl", rows)
    jsonl(tmp_path / "shots.jsonl", [{"question": "Is 1 odd?", "answer": "yes",
                                      "explanation": "1 is not even."}])
    spec = get_task(str(write(tmp_path / "t.yaml", "name: odds\nloader: {jsonl: q.jsonl}\n"
                              "shots: {file: shots.jsonl}\ndev_fraction: 1\n")))
    with pytest.raises(DataError, match="shots.jsonl: shot 1 is a dev question"):
        shot_pool(spec)


def test_questions_without_answers_read_for_infer(tmp_path):
    path = jsonl(tmp_path / "mine.jsonl", [{"question": "Could a llama birth twice?"},
                                           {"id": "q2", "question": "Is the sky green?",
                                            "answer": "No"}])
    questions = read_questions(path, get_task("strategyqa"))
    assert [(q.answer, q.task, q.source) for q in questions] == [
        (None, "strategyqa", "file"), ("no", "strategyqa", "file")]
    assert questions[1].id == "strategyqa/q2" and questions[0].meta == {}
    jsonl(tmp_path / "bad.jsonl", [{"question": "a?", "answr": "yes"}])
    with pytest.raises(DataError, match=r"bad.jsonl:1: unknown field 'answr'"):
        read_questions(tmp_path / "bad.jsonl", get_task("strategyqa"))


def test_task_path_finds_a_spec_by_name(tmp_path, monkeypatch):
    jsonl(tmp_path / "q.jsonl", [{"question": "Is it?", "answer": "yes"}])
    write(tmp_path / "found.yaml", "name: found-me\nloader: {jsonl: q.jsonl}\n")
    with pytest.raises(UnknownName, match="known tasks are strategyqa, sports_understanding"):
        get_task("found-me")
    monkeypatch.setenv("RHF_TASK_PATH", str(tmp_path))
    assert get_task("found-me").path == tmp_path / "found.yaml"


# ---- bad specs: one line naming the file and the field, nothing written -------------------

BAD_SPECS = {
    "unknown key": ("name: t\nloader: {jsonl: q.jsonl}\nanswers: {type: yes_no}\n",
                    [{"question": "a?", "answer": "yes"}],
                    r"t\.yaml: unknown field 'answers' \(known: name, "),
    "unknown nested key": ("name: t\nloader: {jsonl: q.jsonl}\nanswer: {kind: yes_no}\n",
                           [{"question": "a?", "answer": "yes"}],
                           r"t\.yaml: unknown field 'answer.kind'"),
    "missing loader": ("name: t\nanswer: {type: yes_no}\n", [],
                       r"t\.yaml: field 'loader': missing \(give one of bigbench, "
                       r"bigbench_file, bbh, jsonl, hf\)"),
    "two loaders": ("name: t\nloader: {jsonl: q.jsonl, bigbench: navigate}\n", [],
                    r"t\.yaml: field 'loader': give exactly one of"),
    "answer type the data does not fit": (
        "name: t\nloader: {jsonl: q.jsonl}\nanswer: {type: yes_no}\n",
        [{"question": "a?", "answer": "yes"}, {"question": "b?", "answer": "maybe"}],
        r"t\.yaml: field 'answer.type': yes_no does not fit the data: .*q\.jsonl:2 has "
        r"answer 'maybe'"),
    "numbers that are not": (
        "name: t\nloader: {jsonl: q.jsonl}\nanswer: {type: free_form, normalizer: number}\n",
        [{"question": "a?", "answer": "lots"}],
        r"t\.yaml: field 'answer.type': free_form with normalizer number does not fit"),
    "gold not among the options": (
        "name: t\nloader: {jsonl: q.jsonl}\nanswer: {type: multiple_choice}\n",
        [{"question": "a?", "options": ["x", "y"], "answer": "y"},
         {"question": "b?", "options": ["x", "y"], "answer": "z"}],
        r"q\.jsonl:2: field 'answer': 'z' is not among the options \['x', 'y'\]"),
    "duplicate ids": ("name: t\nloader: {jsonl: q.jsonl}\n",
                      [{"id": "a", "question": "a?", "answer": "yes"},
                       {"id": "b", "question": "b?", "answer": "no"},
                       {"id": "a", "question": "c?", "answer": "no"}],
                      r"q\.jsonl:3: field 'id': duplicate id 'a' \(first at .*q\.jsonl:1\)"),
    "a built-in name": ("name: strategyqa\nloader: {jsonl: q.jsonl}\n",
                        [{"question": "a?", "answer": "yes"}],
                        r"t\.yaml: field 'name': 'strategyqa' is already a built-in task"),
    "bad name": ("name: My Task\nloader: {jsonl: q.jsonl}\n", [],
                 r"t\.yaml: field 'name': 'My Task' must be lower case"),
    "missing data file": ("name: t\nloader: {jsonl: nowhere.jsonl}\n", [],
                          r"t\.yaml: field 'loader.jsonl': .*nowhere\.jsonl not found"),
    "normalizer for yes/no": (
        "name: t\nloader: {jsonl: q.jsonl}\nanswer: {type: yes_no, normalizer: number}\n",
        [], r"t\.yaml: field 'answer.normalizer': normalizer applies to free_form"),
}


@pytest.mark.parametrize("case", list(BAD_SPECS))
def test_bad_specs_are_one_line_errors_and_nothing_is_written(case, tmp_path):
    from rhf_cli import app

    text, rows, message = BAD_SPECS[case]
    jsonl(tmp_path / "q.jsonl", rows)
    spec = write(tmp_path / "t.yaml", text)
    with pytest.raises(DataError, match=message):
        split_examples(str(spec), "all")
    out = tmp_path / "chains.jsonl"
    result = runner.invoke(app, ["chains", "generate", "--model", "models/tiny-base",
                                 "--task", str(spec), "--out", str(out)])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert not out.exists()


def test_bad_yaml_and_unknown_names(tmp_path):
    with pytest.raises(SpecError, match=r"t\.yaml:\d+: invalid YAML"):
        load_spec_file(write(tmp_path / "t.yaml", "name: t\nloader: [unclosed\n"))
    with pytest.raises(UnknownName, match="unknown task 'nope': known tasks are strategyqa, "
                                          "sports_understanding"):
        get_task("nope")


def test_the_worked_example_of_the_docs_loads(tmp_path):
    """docs/tasks.md's worked example is a real spec (its data file written here)."""
    doc = (ROOT / "docs" / "tasks.md").read_text()
    yaml_text = doc.split("```yaml\n", 1)[1].split("```", 1)[0]
    data = doc.split("```jsonl\n", 1)[1].split("```", 1)[0]
    write(tmp_path / "capitals.jsonl", data)
    write(tmp_path / "capitals_shots.jsonl", doc.split("```jsonl\n", 2)[2].split("```", 1)[0])
    spec = get_task(str(write(tmp_path / "capitals.yaml", yaml_text)))
    every = split_examples(spec, "all")
    assert len(every) == len(data.strip().splitlines())
    assert all(e.answer is None or e.answer in "ABCD" for e in every)
    assert len(shot_pool(spec)) >= 1
