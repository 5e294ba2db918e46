"""Display names of methods, tasks and calibrated models, shared by the report and the plots.

The built-in ones are pinned here (the report's wording); any other method is named by its
registry entry's title, any other task by its spec's display name.
"""

from __future__ import annotations

METHOD_NAMES = {
    "cot": "CoT k-shot ICL (base model)",
    "multitask": "Multitask fine-tuned",
    "wsc": "Weighted self-consistency",
    "wsc_soft": "Weighted self-consistency, soft weights (extension)",
    "refine": "Iterative refinement",
}
TASK_NAMES = {"strategyqa": "StrategyQA", "sports_understanding": "Sports Understanding"}
CALIBRATION_NAMES = {"icl": "ICL baseline (base model, 4-shot)",
                     "finetuned": "Multitask fine-tuned",
                     "sports_icl": "ICL baseline (base model, 4-shot)",
                     "sports_finetuned": "Multitask fine-tuned"}
# Which detection set each calibration row scores.
DETECTION_SET_NAMES = {"strategyqa": "StrategyQA, the paper's 173 calibration records",
                       "sports_understanding": "Sports, held-out 20% of the paper's feedback"}



def method_title(method: str) -> str:
    """The method's display name: the built-in wording, else its registry entry's title."""
    if method in METHOD_NAMES:
        return METHOD_NAMES[method]
    from inference.dispatch import METHOD_REGISTRY

    return METHOD_REGISTRY.get(method).title if method in METHOD_REGISTRY else method
