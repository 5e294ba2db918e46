"""Display names of methods, tasks and calibrated models, shared by the report and the plots."""

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
