"""TRL export formats: every field of every format, what is left out, the round trip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from feedback_data.exports.formats import EXPORT_FORMATS, build
from feedback_data.exports.trl import (
    ExportError,
    build_dpo,
    build_kto,
    build_prm,
    build_processbench,
    build_sft,
    read_rows,
    write_rows,
)
from feedback_data.records.schema import Chain, Correction, Example, Feedback, FeedbackItem
from feedback_data.registry import UnknownName
from feedback_data.text.chain_format import parse_chain
from feedback_data.text.step_policy import first_wrong_step, step_label, step_labels

Q = "Is a cat a mammal?"
PROMPT = "Predict the correct answer for the question and explain it.\nQ: Is a cat a mammal?\nA:"
WRONG = "The answer is no because Cats lay eggs. Mammals do not lay eggs."
RIGHT = "The answer is yes because Cats have fur. Animals with fur are mammals."


def item(fid: str, chain: str = WRONG, correction: str = RIGHT, types=("FE",),
         reasons=None, error_steps=(), **extra) -> FeedbackItem:
    answer, steps, parsed = parse_chain(chain)
    c_answer, c_steps, _ = parse_chain(correction)
    fb = Feedback(id=fid, chain_id=f"c-{fid}", annotator="ann", source="human",
                  correction=Correction(text=correction, answer=c_answer, steps=c_steps),
                  error_types=list(types),
                  reasons=reasons if reasons is not None else {t: "wrong fact" for t in types},
                  error_steps=list(error_steps))
    for key, value in extra.items():  # step_ratings (schema v2, annotation branch)
        object.__setattr__(fb, key, value)
    return FeedbackItem(
        example=Example(id=f"e-{fid}", task="strategyqa", question=Q, answer="yes"),
        chain=Chain(id=f"c-{fid}", example_id=f"e-{fid}", task="strategyqa", question=Q,
                    model="gpt-j", prompt_id="p", text=chain, answer=answer, steps=steps,
                    parsed=parsed),
        feedback=fb)


def no_error(fid: str) -> FeedbackItem:
    return item(fid, chain=RIGHT, correction=RIGHT, types=())


def empty_correction(fid: str) -> FeedbackItem:
    return item(fid, correction="")


def test_prompt_is_the_multitask_instruction():
    from feedback_data.exports import trl as trl_formats
    from feedback_data.text import instructions as ins

    # The export asks exactly what rhf's methods ask: it uses the instructions themselves.
    assert trl_formats.answer_prompt(Q) == ins.answer_prompt(Q) == PROMPT
    assert trl_formats.error_types_prompt is ins.error_types_prompt
    assert trl_formats.description_prompt is ins.description_prompt


def test_sft_rows_and_left_out():
    rows, rep = build_sft([item("a"), empty_correction("b")])
    assert rows == [{"prompt": PROMPT, "completion": " " + RIGHT}]
    assert (rep.records, rep.rows, dict(rep.left_out)) == (
        2, 1, {"inconsistent:empty_correction": 1})


def test_sft_critique_rows_are_marked():
    rows, rep = build_sft([item("a", types=("FE", "MF"),
                                reasons={"FE": "cats  do not\nlay eggs", "MF": "fur"})],
                          critiques=True)
    assert [r["task"] for r in rows] == ["answer", "error_types", "description"]
    assert rows[0] == {"prompt": PROMPT, "completion": " " + RIGHT, "task": "answer"}
    assert rows[1]["prompt"] == f"Which errors does the answer to the question contain?\n" \
                                f"Question: {Q}\nAnswer: {WRONG}"
    assert rows[1]["completion"] == " factual error, missing facts"
    assert rows[2]["prompt"].startswith("Describe the errors in the answer to the question, ")
    assert rows[2]["completion"] == " Factual Error: cats do not lay eggs Missing Facts: fur"
    assert rep.rows == 3 and not rep.left_out


def test_kto_labels():
    rows, rep = build_kto([item("a"), no_error("b")])
    assert rows == [
        {"prompt": PROMPT, "completion": " " + WRONG, "label": False},
        {"prompt": PROMPT, "completion": " " + RIGHT, "label": True},
        {"prompt": PROMPT, "completion": " " + RIGHT, "label": True},  # b's chain, no error
    ]
    assert dict(rep.left_out) == {"correction_same_as_chain (row)": 1}


def test_dpo_only_where_answer_or_steps_differ():
    same_steps = item("c", chain=RIGHT, correction="The answer is yes because  Cats have fur. "
                      "Animals with fur are mammals.", types=("IR",))
    rows, rep = build_dpo([item("a"), no_error("b"), same_steps, empty_correction("d")])
    assert rows == [{"prompt": PROMPT, "chosen": " " + RIGHT, "rejected": " " + WRONG}]
    assert dict(rep.left_out) == {"correction_same_as_chain": 2,
                                  "inconsistent:empty_correction": 1}
    assert rep.records == 4


def test_prm_and_processbench_from_error_steps_and_no_error():
    three = "The answer is no because Ants are small. Birds fly. Cows eat grass."
    records = [item("a", chain=three, error_steps=[3, 2]), no_error("b"),
               item("c")]  # c: error types but no step named
    rows, rep = build_prm(records)
    assert rows == [
        {"prompt": PROMPT, "completions": ["Ants are small.", "Birds fly.", "Cows eat grass."],
         "labels": [True, False, False]},
        {"prompt": PROMPT, "completions": ["Cats have fur.", "Animals with fur are mammals."],
         "labels": [True, True]},
    ]
    assert dict(rep.left_out) == {"errors_without_step": 1} and not rep.notes
    only_correct = build_prm([no_error("x"), item("y")])[1]
    assert "no row has a wrong step" in only_correct.summary()
    pb, rep = build_processbench(records)
    assert pb == [
        {"id": "a", "generator": "gpt-j", "problem": Q, "steps": ["Ants are small.", "Birds fly.",
                                                                  "Cows eat grass."],
         "final_answer_correct": False, "label": 1},
        {"id": "b", "generator": "gpt-j", "problem": Q,
         "steps": ["Cats have fur.", "Animals with fur are mammals."],
         "final_answer_correct": True, "label": -1},
    ]
    assert dict(rep.left_out) == {"errors_without_step": 1}


def test_step_ratings_policy():
    three = "The answer is no because Ants are small. Birds fly. Cows eat grass."

    def rated(ratings):
        return item("r", chain=three, error_steps=[1], step_ratings=ratings)

    # ratings win over error_steps; neutral counts as correct by default
    assert first_wrong_step(rated(["correct", "neutral", "wrong"])) == (2, None)
    assert first_wrong_step(rated(["correct", "neutral", "wrong"]), neutral_is_correct=False) \
        == (1, None)
    assert first_wrong_step(rated(["correct", "neutral", "correct"])) == (-1, None)
    assert first_wrong_step(rated(["correct", "wrong", "unsure"])) == (1, None)
    assert first_wrong_step(rated(["unsure", "wrong", "correct"])) == (
        None, "unsure_step_before_first_wrong")
    assert first_wrong_step(rated(["correct"])) == (None, "step_ratings_length_mismatch")
    # None means unknown: fall back to error_steps
    assert first_wrong_step(rated(None)) == (0, None)
    assert first_wrong_step(item("s", error_steps=[5])) == (None, "error_step_out_of_range")
    assert step_labels(3, 0) == [False, False, False]
    assert step_labels(3, -1) == [True, True, True]


def test_descriptions_are_the_third_source():
    three = "The answer is no because Ants are small. Birds fly. Cows eat grass."
    described = item("d", chain=three, types=("FE", "MF"),
                     reasons={"FE": "In step 3, cows eat more than grass.",
                              "MF": "In steps 2 and 3, the explanation does not mention fur."})
    assert step_label(described) == step_label(described, neutral_is_correct=False)
    assert step_label(described).first_wrong == 1
    assert step_label(described).source == "descriptions"
    # marked error steps come first; the descriptions are read only without them
    assert step_label(item("m", chain=three, error_steps=[3], types=("FE",),
                           reasons={"FE": "In step 1, x"})).first_wrong == 2
    # refused: a step the chain does not have; the parser's reason is kept
    beyond = item("b", chain=three, reasons={"FE": "In step 4, x is false."})
    assert first_wrong_step(beyond) == (None, "errors_without_step")
    assert step_label(beyond).description_why == "described_step_out_of_range"
    # Irrelevant Facts alone locates only neutral steps: no label (the annotator found an
    # error), unless neutral counts as wrong
    irrelevant = item("i", chain=three, types=("IR",), reasons={"IR": "Step 2 is irrelevant."})
    assert step_label(irrelevant).description_why == "only_neutral_steps"
    assert first_wrong_step(irrelevant, neutral_is_correct=False) == (1, None)


def test_prm_and_processbench_count_the_description_labels():
    three = "The answer is no because Ants are small. Birds fly. Cows eat grass."
    records = [item("a", chain=three, reasons={"FE": "In step 2, birds do not fly."}),
               item("b", chain=three, reasons={"FE": "In step 7, x."}), no_error("c"),
               item("e", chain=three, error_steps=[1])]
    rows, rep = build_prm(records)
    assert [r["labels"] for r in rows] == [[True, False, False], [True, True],
                                          [False, False, False]]
    assert dict(rep.step_sources) == {"descriptions": 1, "no_error": 1, "error_steps": 1}
    assert dict(rep.unlocated) == {"described_step_out_of_range": 1}
    text = rep.summary()
    assert "the error descriptions labelled 1" in text
    assert "errors_without_step, by the description parser's reason: " \
           "described_step_out_of_range: 1" in text
    pb, rep = build_processbench(records)
    assert [r["label"] for r in pb] == [1, -1, 0] and rep.step_sources["descriptions"] == 1
    assert not rep.notes  # a row has a wrong step


@pytest.mark.parametrize("fmt", [f.name for f in EXPORT_FORMATS if f.kind == "rows"])
@pytest.mark.parametrize("suffix", [".jsonl", ""])
def test_round_trip_every_field(fmt: str, suffix: str, tmp_path: Path):
    records = [item("a", error_steps=[2]), no_error("b"),
               item("c", chain="The answer is no because Ants are small. Birds fly.",
                    error_steps=[1])]
    rows, _ = build(fmt, records)
    assert rows
    out = tmp_path / f"out{suffix}"
    kind = write_rows(rows, out)
    assert kind == ("jsonl" if suffix else "hf")
    assert read_rows(out) == rows
    if suffix:
        assert len(out.read_text().splitlines()) == len(rows)
        assert not list(tmp_path.glob(".*"))  # no temporary file left


def test_unknown_format_and_empty_dataset(tmp_path: Path):
    with pytest.raises(UnknownName, match="unknown export format 'orpo'"):
        build("orpo", [])
    with pytest.raises(ExportError, match="no rows"):
        write_rows([], tmp_path / "ds")
    assert not (tmp_path / "ds").exists()


def test_cli_export_reports_left_out(tmp_path: Path):
    from typer.testing import CliRunner

    from feedback_data.cli import app

    out = tmp_path / "dpo.jsonl"
    res = CliRunner().invoke(app, ["export", str(out), "--format", "dpo"])
    assert res.exit_code == 0, res.output
    n = len(out.read_text().splitlines())
    assert f"wrote {n} rows to {out}" in res.output
    assert "correction_same_as_chain: " in res.output
    # The default policy drops the pairs whose chosen answer contradicts the gold answer.
    assert "correction_contradicts_gold (pair): " in res.output
    assert "contradicting corrections: drop" in res.output
    first = json.loads(out.read_text().splitlines()[0])
    assert sorted(first) == ["chosen", "prompt", "rejected"]
    res = CliRunner().invoke(app, ["export", str(tmp_path / "x"), "--format", "nope"])
    assert res.exit_code == 1 and "--format must be" in res.output


def test_contradicting_corrections_are_no_target_under_drop():
    """Gold 'yes'; the annotator's correction answers 'no'. Under 'drop' it gives no SFT
    answer row, no KTO True row and no DPO pair (its critique rows and its original chain
    stay); under 'keep' it is a target like any other. The summary says which."""
    bad = item("x", chain=RIGHT, correction=WRONG)
    good = item("g")
    rows, rep = build_sft([bad, good])
    assert rows == [{"prompt": PROMPT, "completion": " " + RIGHT}]
    assert dict(rep.left_out) == {"correction_contradicts_gold (answer row)": 1}
    assert "contradicting corrections: drop" in rep.summary()
    rows, _ = build_sft([bad], critiques=True)
    assert [r["task"] for r in rows] == ["error_types", "description"]
    rows, rep = build_kto([bad])
    assert rows == [{"prompt": PROMPT, "completion": " " + RIGHT, "label": False}]
    assert dict(rep.left_out) == {"correction_contradicts_gold (True row)": 1}
    rows, rep = build_dpo([bad, good])
    assert [r["chosen"] for r in rows] == [" " + RIGHT]
    assert dict(rep.left_out) == {"correction_contradicts_gold (pair)": 1}
    for fmt in ("sft", "kto", "dpo"):
        kept, rep = build(fmt, [bad], contradicting="keep")
        assert any(" " + WRONG in r.values() for r in kept) and not rep.left_out
        assert "contradicting corrections: keep" in rep.summary()
    with pytest.raises(ValueError, match="unknown contradicting-corrections policy"):
        build("sft", [bad], contradicting="maybe")
