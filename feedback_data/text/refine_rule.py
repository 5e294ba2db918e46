"""Iterative refinement's stopping rule: what one 'error types ; correction' output does to
the chain under refinement. ``rhf eval``/``rhf infer`` (inference.methods.run_refine) and the
refine objective's validation by the evaluation protocol (training.recipe.validation) apply
the same rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from feedback_data.records.schema import Example
from feedback_data.text.answers import parse_answer_chain
from feedback_data.text.instructions import parse_refine_output

# refine: which chain a 'no error' verdict keeps (the paper: the one the model was given).
REFINE_KEEP: tuple[str, ...] = ("given", "written")


@dataclass
class RefineState:
    """One example's refinement: the current chain and why it stopped (None while running)."""

    chain: str
    rounds: int = 0
    stop: str | None = None
    history: list[str] = field(default_factory=list)


def refine_update(state: RefineState, output: str, max_rounds: int,
                  keep: str = "given", example: Example | None = None) -> RefineState:
    """Apply one 'error types ; correction' output to ``state`` (the stopping rule).

    - 'no error': stop. ``keep="given"`` (the paper): the chain stays the one the model was
      given, c_{i-1}; ``keep="written"``: a readable correction it wrote becomes the chain.
    - errors named and a readable correction: the correction becomes the chain; go on.
    - errors named but no readable correction, or no error types readable: stop, keep chain.
    - after ``max_rounds`` rounds: stop.

    A correction is readable when ``example``'s task can read its answer (yes/no without it).
    """
    if keep not in REFINE_KEEP:
        raise ValueError(f"keep must be one of {', '.join(REFINE_KEEP)}, got {keep!r}")
    codes, correction = parse_refine_output(output)
    state.rounds += 1
    state.history.append(output)
    readable = bool(correction) and parse_answer_chain(correction, example)[2]
    if codes == []:
        if readable and keep == "written":
            state.chain = correction
        state.stop = "no_error"
    elif codes is None:
        state.stop = "unparsed"
    elif not readable:
        state.stop = "unparsed_correction"
    else:
        state.chain = correction
        if state.rounds >= max_rounds:
            state.stop = "max_rounds"
    return state
