"""Tasks in their published formats (issue 31): BIG-bench task.json files by path (the real
tasks in shared/data/bigbench-tasks), BIG-Bench Hard files and CoT prompt .txt shots (the
BBH-layout fixtures in tests/assets/bbh), one question template for every question, the
checks of `rhf data check` / `rhf data stats`, contradicting duplicates, and prompts that
drop whole shots to fit the model's source budget."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from feedback_data.errors import DataError
from feedback_data.tasks.data import question_example, shot_pool, split_examples, task_summary
from feedback_data.tasks.formats import parse_cot_prompt
from feedback_data.tasks.loaders import read_questions
from feedback_data.tasks.prompts import cot_prompt, default_shots
from feedback_data.tasks.registry import get_task
from feedback_data.tasks.spec import SpecError, parse_spec
from rhf_cli import app

ROOT = Path(__file__).resolve().parents[2]
BBH = ROOT / "tests" / "assets" / "bbh"
runner = CliRunner()


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_a_bigbench_folder_with_its_prefixes_as_the_question_template(bigbench_tasks, tmp_path):
    spec = get_task(str(write(tmp_path / "nav.yaml", (
        f"name: nav31\nloader: {{bigbench_file: {bigbench_tasks / 'navigate'}}}\n"
        "answer: {type: yes_no}\nshots: {from: none}\n"))))
    assert spec.loader.source == str(bigbench_tasks / "navigate" / "task.json")
    # task_prefix has no trailing space: a space joins it to the input
    assert spec.question == ("If you follow these instructions, do you return to the starting "
                             "point? {input}")
    every = split_examples(spec, "all")
    assert len(every) == 1000
    assert every[0].question == (
        "If you follow these instructions, do you return to the starting point? Take 1 step. "
        "Take 2 steps. Take 3 steps. Turn around. Take 6 steps. Turn left.")
    assert every[0].answer == "yes"  # target_scores {"True": 1, "False": 0}
    assert every[0].source == "bigbench"


def test_a_bigbench_file_free_form_and_multiple_choice(bigbench_tasks):
    words = parse_spec({"name": "ws31", "loader": {"bigbench_file": str(
        bigbench_tasks / "word_sorting" / "task.json")},
        "answer": {"type": "free_form", "normalizer": "exact"}, "shots": {"from": "none"}})
    assert words.question == "Sort the following words alphabetically.\n\nList: {input}"
    first = split_examples(words, "all")[0]
    assert (first.question, first.answer) == (
        "Sort the following words alphabetically. List: stick gelatine", "gelatine stick")
    ruin = parse_spec({"name": "ruin31", "loader": {"bigbench_file": str(
        bigbench_tasks / "ruin_names")}, "answer": {"type": "multiple_choice"},
        "shots": {"from": "none"}})
    first = split_examples(ruin, "all")[0]
    assert first.question == ("Which of the following is a humorous edit of this artist or "
                              "movie name? star wars Options: (A) stare wars (B) stariwars (C) "
                              "stars wars (D) star was")
    assert first.answer == "A" and first.meta["options"][0] == "stare wars"
    counting = parse_spec({"name": "oc31", "loader": {"bigbench_file": str(
        bigbench_tasks / "object_counting")}, "answer": {"type": "free_form",
                                                          "normalizer": "number"},
        "shots": {"from": "none"}})
    first = split_examples(counting, "all")[0]
    assert first.question == ("How many objects do I have? I have a clarinet, a violin, and a "
                              "flute.")
    assert first.answer == "3"


def test_the_spec_template_overrides_the_prefixes(bigbench_tasks):
    spec = parse_spec({"name": "nav31b", "loader": {"bigbench_file": str(
        bigbench_tasks / "navigate")}, "question": "Do you return? {input}",
        "shots": {"from": "none"}})
    assert split_examples(spec, "all")[0].question.startswith("Do you return? Take 1 step.")


def test_bad_published_files_are_one_line_errors(tmp_path):
    write(tmp_path / "task.json", json.dumps({"name": "x", "examples": []}))
    with pytest.raises(DataError, match=r"task\.json: no 'examples' list"):
        parse_spec({"name": "x", "loader": {"bigbench_file": str(tmp_path)}})
    write(tmp_path / "task.json", json.dumps({"examples": [{"input": "a"}]}))
    with pytest.raises(DataError, match=r"task\.json: example 0: missing field 'target' or "
                                        "'target_scores'"):
        parse_spec({"name": "x", "loader": {"bigbench_file": str(tmp_path / "task.json")}})
    with pytest.raises(SpecError, match=r"field 'loader\.bigbench_file': .*nowhere not "
                                        "found"):
        parse_spec({"name": "x", "loader": {"bigbench_file": str(tmp_path / "nowhere")}})
    bbh = write(tmp_path / "b.json", json.dumps({"examples": [{"input": "q", "target": 3}]}))
    spec = parse_spec({"name": "x", "loader": {"bbh": str(bbh)}, "shots": {"from": "none"}})
    with pytest.raises(DataError, match=r"b\.json: example 0: field 'target': missing or not "
                                        "a string"):
        split_examples(spec, "all")
    (tmp_path / "task.json").write_bytes(b'{"examples": [{"input": "\xff"}]}')
    with pytest.raises(DataError, match=r"task\.json: not UTF-8 text \(byte 0xff at offset "
                                        r"25\)"):
        parse_spec({"name": "x", "loader": {"bigbench_file": str(tmp_path)}})
    with pytest.raises(DataError, match=r"p\.txt:3: the shot's answer has no 'the answer is "
                                        "<answer>'"):
        parse_cot_prompt("Do it.\n\nQ: one?\nA: It is one.\n", "p.txt")


def test_a_bbh_file_and_its_cot_prompt():
    nav = get_task(str(BBH / "navigate.yaml"))
    every = split_examples(nav, "all")
    assert len(every) == 8 and [e.answer for e in every[:3]] == ["yes", "yes", "no"]
    assert every[2].question == ("If you follow these instructions, do you return to the "
                                 "starting point? Take 1 step. Take 4 steps. Options: - Yes - No")
    shots = shot_pool(nav)
    assert [s.answer for s in shots] == ["yes", "no"]
    assert shots[1].explanation == (
        "We start at the origin (0, 0), facing the positive y-axis. (1) Take 3 steps: (0, 3). "
        "(2) Take 2 steps: (0, 5). Since (0, 5) is not (0, 0), we are not where we started.")
    prompt = cot_prompt(nav.name, "Q?", default_shots(nav.name, 2))
    # the prompt file's instruction line heads the k-shot prompt
    assert prompt.split("\n\n")[0] == ("Given a series of navigation instructions, determine "
                                       "whether one would end up back at the starting point.")
    assert prompt.endswith("\n\nQ: Q?\nA:")
    assert cot_prompt(nav.name, "Q?", []) == "Q: Q?\nA:"

    snarks = get_task(str(BBH / "snarks.yaml"))
    first = split_examples(snarks, "all")[0]
    assert first.meta["options"] == [
        "Oh great, another Monday meeting that could have been an email.",
        "Another Monday meeting is on the calendar for ten o'clock."]
    assert first.question.startswith("Which statement is sarcastic? Options: (A) Oh great")
    assert first.answer == "A"
    assert [s.answer for s in shot_pool(snarks)] == ["A", "B"]


def test_one_template_for_examples_and_the_service(bigbench_tasks, tmp_path):
    spec = get_task(str(write(tmp_path / "nav.yaml", (
        f"name: nav31c\nloader: {{bigbench_file: {bigbench_tasks / 'navigate'}}}\n"
        "shots: {from: none}\n"))))
    dev = split_examples(spec, "dev")[0]
    raw = dev.question.removeprefix("If you follow these instructions, do you return to the "
                                    "starting point? ")
    questions = write(tmp_path / "q.jsonl", json.dumps({"question": raw}) + "\n"
                      + json.dumps({"input": raw, "id": "x"}) + "\n")
    asked = read_questions(questions, spec)
    assert [e.question for e in asked] == [dev.question, dev.question]
    assert asked[0].id == dev.id  # the same question, the same id as in the dev set
    assert question_example(spec, raw).question == dev.question


def test_contradicting_duplicates_are_listed_left_out_and_flagged(tmp_path):
    rows = [{"question": "Is ice cold?", "answer": "yes"},
            {"question": "Is fire hot?", "answer": "yes"},
            {"question": "Is ice  cold?", "answer": "no"},
            {"question": "Is fire hot?", "answer": "yes"},
            {"question": "Is tea wet?", "answer": "yes"}]
    write(tmp_path / "q.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    spec = write(tmp_path / "t.yaml", "name: dup31\nloader: {jsonl: q.jsonl}\n"
                 "shots: {from: none}\n")
    summary = task_summary(str(spec))
    assert summary["questions"] == 2  # fire and tea; both copies of ice left out
    assert summary["duplicates_left_out"] == 1 and summary["conflicting_left_out"] == 2
    assert summary["conflicts"] == [f"'Is ice cold?': {tmp_path / 'q.jsonl'}:1 ('yes') vs "
                                    f"{tmp_path / 'q.jsonl'}:3 ('no')"]
    result = runner.invoke(app, ["data", "stats", "--task", str(spec)])
    assert result.exit_code == 0, result.output
    assert ("FLAG contradicting duplicates: 2 records of 1 questions whose gold answers "
            "disagree, left out:") in result.output


def test_data_check_and_stats_exit_1_on_shot_problems(tmp_path):
    rows = [{"id": str(i), "question": f"Is {i} even?", "answer": "no" if i % 2 else "yes"}
            for i in range(8)]
    write(tmp_path / "q.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    spec = parse_spec({"name": "ev31", "loader": {"jsonl": str(tmp_path / "q.jsonl")}})
    dev_q = split_examples(spec, "dev")[0].question
    write(tmp_path / "s.jsonl", json.dumps({"question": dev_q, "answer": "yes",
                                            "explanation": "It is."}) + "\n")
    bad = write(tmp_path / "t.yaml", "name: ev31\nloader: {jsonl: q.jsonl}\n"
                "shots: {file: s.jsonl}\n")
    for command in (["data", "stats", "--task", str(bad)], ["data", "check", "--task", str(bad)]):
        result = runner.invoke(app, command)
        assert result.exit_code == 1, result.output
        assert "shot 1 is a dev question" in result.output
    write(tmp_path / "s.jsonl", json.dumps({"question": "Is 9 odd?", "answer": "yes",
                                            "explanation": "9 = 2 * 4 + 1."}) + "\n")
    result = runner.invoke(app, ["data", "check", "--task", str(bad)])
    assert result.exit_code == 1
    assert (f"problem: {bad}: only 1 shots available for ev31, asked for 4 (give --k 1, or "
            "more shots") in result.output
    result = runner.invoke(app, ["data", "check", "--task", str(bad), "--k", "1"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ok: ev31: 8 questions")


def test_the_bbh_fixtures_pass_the_checks():
    result = runner.invoke(app, ["data", "check", "--task", str(BBH / "navigate.yaml"),
                                 "--task", str(BBH / "snarks.yaml"), "--k", "2"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "ok: bbh_navigate: 8 questions (dev 3, train 5), 2 shots for --k 2",
        "ok: bbh_snarks: 6 questions (dev 5, train 1), 2 shots for --k 2"]


def test_whole_shots_dropped_to_fit_the_budget():
    from inference.shot_budget import ShotBudgetError, fit_shots

    nav = get_task(str(BBH / "navigate.yaml"))
    shots = default_shots(nav.name, 2)

    def count(prompts: list[str]) -> list[int]:  # one token per character
        return [len(p) for p in prompts]

    one, two = (len(cot_prompt(nav.name, "Short?", shots[:n])) for n in (1, 2))
    fitted = fit_shots(nav.name, ["Short?", "Short?"], shots, count, budget=two)
    assert fitted.kept == [2, 2] and fitted.lost == 0
    fitted = fit_shots(nav.name, ["Short?", "Long" + "?" * (two - one)], shots, count,
                       budget=two)
    assert fitted.kept == [2, 1] and fitted.lost == 1
    assert fitted.prompts[1] == cot_prompt(nav.name, "Long" + "?" * (two - one), shots[:1])
    assert fitted.message(nav.name).startswith(
        f"[cot] bbh_navigate: 1 of 2 prompts exceed the model's source budget of {two} tokens "
        "with 2 shots: whole shots dropped from the end (kept 1 to 2 of 2")
    with pytest.raises(ShotBudgetError, match=rf"navigate\.yaml: question 1 of bbh_navigate: "
                                              rf"even one shot does not fit .*\({one} tokens "
                                              rf"with 1 shot, the budget is {one - 1}\); give "
                                              "--k 0"):
        fit_shots(nav.name, ["Short?"], shots, count, budget=one - 1, where=nav.where())
