"""k-shot prompts that fit the model's source budget: whole shots are dropped from the end
until a prompt fits, never cut in the middle (feedback_data.text.source_tokens would cut it).

:func:`fit_shots` builds each question's prompt with as many of the k shots as fit; a question
whose prompt does not fit even with one shot is refused (:class:`ShotBudgetError`).
:func:`check_shot_budget` runs the same fitting with only the model's tokenizer and source
length, so `rhf eval` and `rhf infer` refuse before the model loads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from feedback_data.records.schema import Example
from feedback_data.tasks.prompts import cot_prompt
from feedback_data.text.source_tokens import source_ids

Counter = Callable[[list[str]], list[int]]


class ShotBudgetError(ValueError):
    """Even one shot does not fit the model's source budget."""


@dataclass(frozen=True)
class FittedPrompts:
    """Each question's prompt and how many of the ``k`` shots it kept."""

    prompts: list[str]
    kept: list[int]
    k: int
    budget: int

    @property
    def lost(self) -> int:
        """How many prompts lost shots."""
        return sum(n < self.k for n in self.kept)

    def message(self, task: str) -> str:
        """The one line saying what was dropped (for a run where ``lost`` > 0)."""
        return (f"[cot] {task}: {self.lost} of {len(self.prompts)} prompts exceed the model's "
                f"source budget of {self.budget} tokens with {self.k} shots: whole shots "
                f"dropped from the end (kept {min(self.kept)} to {max(self.kept)} of "
                f"{self.k}; a smaller --k keeps every prompt whole)")


def token_counter(tokenizer: Any, causal: bool) -> Counter:
    """Token lengths of prompts as the model reads them (the same ids as training)."""
    return lambda prompts: [len(ids) for ids in source_ids(tokenizer, prompts, None,
                                                           causal=causal)]


def fit_shots(task: str, questions: list[str], shots: list[Example], count: Counter,
              budget: int, where: str = "") -> FittedPrompts:
    """The k-shot prompt of each question with the most of ``shots`` (a prefix) that fits
    ``budget`` tokens; ShotBudgetError when a prompt with one shot does not fit."""
    k = len(shots)
    prompts = [cot_prompt(task, q, shots) for q in questions]
    kept = [k] * len(questions)
    if k == 0 or not questions:
        return FittedPrompts(prompts, kept, k, budget)
    lengths = count(prompts)
    for i, q in enumerate(questions):
        n, length = k, lengths[i]
        while length > budget and n > 1:
            n -= 1
            prompts[i] = cot_prompt(task, q, shots[:n])
            length = count([prompts[i]])[0]
        if length > budget:
            head = f"{where}: " if where else ""
            raise ShotBudgetError(
                f"{head}question {i + 1} of {task}: even one shot does not fit the model's "
                f"source budget ({length} tokens with 1 shot, the budget is {budget}); give "
                "--k 0, shorter shots, or a model trained with a longer data.max_source_len")
        kept[i] = n
    return FittedPrompts(prompts, kept, k, budget)


def model_budget(model: str | Path) -> tuple[Any, int, bool]:
    """(tokenizer, source length, causal) of a model, without loading its weights."""
    import json

    from transformers import AutoConfig, AutoTokenizer

    from inference.backends import (
        DEFAULT_MAX_SOURCE_LENGTH,
        ModelLoadError,
        checkpoint_info,
        resolve_model_path,
        trained_source_length,
    )

    resolved = resolve_model_path(model)
    info = checkpoint_info(resolved)
    try:
        source = resolved
        if info.get("peft"):
            adapter = json.loads((Path(resolved) / "adapter_config.json").read_text())
            base = adapter.get("base_model_name_or_path") or ""
            config = AutoConfig.from_pretrained(base)
            if not (Path(resolved) / "tokenizer_config.json").exists():
                source = base
        else:
            config = AutoConfig.from_pretrained(resolved)
        tokenizer = AutoTokenizer.from_pretrained(source)
    except (OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelLoadError(f"cannot load model {model!r}: {first}") from exc
    budget = trained_source_length(info) or DEFAULT_MAX_SOURCE_LENGTH
    return tokenizer, budget, not bool(config.is_encoder_decoder)


def check_shot_budget(model: str | Path, task: str, examples: list[Example],
                      shots: list[Example]) -> FittedPrompts:
    """:func:`fit_shots` with ``model``'s tokenizer and source length, before the model
    loads: raises ShotBudgetError (naming the task file) when even one shot does not fit."""
    from feedback_data.tasks.registry import get_task

    if not shots:
        return FittedPrompts([], [], 0, 0)
    tokenizer, budget, causal = model_budget(model)
    return fit_shots(task, [ex.question for ex in examples], shots,
                     token_counter(tokenizer, causal), budget, where=get_task(task).where())
