"""The generation backend on tiny seq2seq and causal models."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from inference.backends import Backend, ModelLoadError, cut_at_stop, resolve_model_path


def test_resolve_model_path(tmp_path: Path) -> None:
    (tmp_path / "run" / "final").mkdir(parents=True)
    assert resolve_model_path(tmp_path / "run") == str(tmp_path / "run" / "final")
    assert resolve_model_path(tmp_path / "run" / "final") == str(tmp_path / "run" / "final")
    assert resolve_model_path("google/flan-t5-large") == "google/flan-t5-large"
    with pytest.raises(ModelLoadError, match="no such model folder"):
        resolve_model_path(str(tmp_path / "missing"))


def test_cut_at_stop() -> None:
    assert cut_at_stop(" The answer is no because x.\nQ: next") == "The answer is no because x."


@pytest.mark.parametrize("which", ["tiny_t5", "tiny_causal"])
def test_generate_and_score(which: str, request: pytest.FixtureRequest) -> None:
    backend = Backend.load(request.getfixturevalue(which), batch_size=4)
    prompts = ["Q: Is water wet?\nA:", "hi", "Q: Did Kobe dunk?\nA:"]
    greedy = backend.generate(prompts, max_new_tokens=6)
    assert [len(g) for g in greedy] == [1, 1, 1]
    assert backend.generate(prompts[::-1], max_new_tokens=6)[::-1] == greedy  # order restored
    s1 = backend.generate(prompts, do_sample=True, temperature=0.7, num_return_sequences=3,
                          max_new_tokens=6, seed=3)
    s2 = backend.generate(prompts, do_sample=True, temperature=0.7, num_return_sequences=3,
                          max_new_tokens=6, seed=3)
    assert s1 == s2 and [len(s) for s in s1] == [3, 3, 3]
    scores = backend.score(prompts, ["no error", "missing facts", "no error"])
    alone = [backend.score([p], [t])[0] for p, t in
             zip(prompts, ["no error", "missing facts", "no error"], strict=True)]
    assert all(math.isfinite(s) and s < 0 for s in scores)
    assert scores == pytest.approx(alone, abs=1e-3)  # padding does not change a score


def test_encoder_runs_once_per_batch_for_n_samples(tiny_t5: Path) -> None:
    backend = Backend.load(tiny_t5, batch_size=64)
    seen: list[int] = []
    hook = backend.model.get_encoder().register_forward_hook(
        lambda _m, _i, out: seen.append(out[0].shape[0]))
    try:
        out = backend.generate(["a b", "c d e"], do_sample=True, num_return_sequences=8,
                               max_new_tokens=4, seed=0)
    finally:
        hook.remove()
    assert [len(o) for o in out] == [8, 8]
    assert seen == [2]  # one encoder pass over the 2 questions, not 16


def test_loads_run_dir_and_peft_adapter(tiny_t5: Path, tmp_path: Path) -> None:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    final = tmp_path / "run" / "final"
    model = get_peft_model(AutoModelForSeq2SeqLM.from_pretrained(tiny_t5),
                           LoraConfig(r=2, target_modules=["q", "v"], task_type="SEQ_2_SEQ_LM"))
    model.save_pretrained(final)
    AutoTokenizer.from_pretrained(tiny_t5).save_pretrained(final)
    (tmp_path / "run" / "run.json").write_text('{"seed": 3, "objective": "multitask"}')
    backend = Backend.load(tmp_path / "run")
    assert backend.info["peft"] and backend.info["run"]["seed"] == 3
    assert len(backend.generate(["hi"], max_new_tokens=3)[0]) == 1


def test_unloadable_model_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match="cannot load model"):
        Backend.load(tmp_path / "empty")


@pytest.mark.parametrize("which", ["tiny_t5", "tiny_causal"])
def test_score_choices_equals_score(which: str, request: pytest.FixtureRequest) -> None:
    backend = Backend.load(request.getfixturevalue(which), batch_size=4)
    prompts, choices = ["a b c", "Question: x?\nAnswer: y"], ["no error", "missing facts", "x"]
    rows = backend.score_choices(prompts, choices, batch_size=4)
    flat = backend.score([p for p in prompts for _ in choices], choices * 2)
    assert [v for r in rows for v in r] == pytest.approx(flat, abs=1e-3)
