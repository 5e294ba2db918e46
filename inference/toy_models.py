"""A scripted stand-in generator, for tests and benchmarks (the tiny random-weight models
are built by training.model.tiny_model)."""

from __future__ import annotations

from collections.abc import Callable


class ScriptedGenerator:
    """A stand-in model: ``respond(prompt, sample_index)`` writes each completion and
    ``score(prompt, choice)`` gives log p(choice | prompt) for ``score_choices``.

    Records every call (prompt count, num_return_sequences) so tests can check batching.
    """

    def __init__(self, respond: Callable[[str, int], str], name: str = "scripted",
                 score: Callable[[str, str], float] | None = None) -> None:
        self.respond = respond
        self.score = score
        self.name = name
        self.calls: list[dict] = []

    def score_choices(self, prompts: list[str], choices: list[str],
                      batch_size: int | None = None) -> list[list[float]]:
        if self.score is None:
            raise NotImplementedError(f"{self.name}: no score function given")
        self.calls.append({"prompts": list(prompts), "choices": list(choices),
                           "batch_size": batch_size})
        return [[self.score(p, c) for c in choices] for p in prompts]

    def generate(self, prompts: list[str], *, do_sample: bool = False, temperature: float = 1.0,
                 num_return_sequences: int = 1, max_new_tokens: int = 64,
                 seed: int | None = None, batch_size: int | None = None,
                 desc: str | None = None) -> list[list[str]]:
        self.calls.append({"prompts": list(prompts), "n": num_return_sequences,
                           "do_sample": do_sample, "batch_size": batch_size})
        return [[self.respond(p, j) for j in range(num_return_sequences)] for p in prompts]
