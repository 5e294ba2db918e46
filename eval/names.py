"""Display names of methods, tasks and calibrated models, shared by the report and the plots.

A method is named by its registry entry's title (inference.dispatch.METHOD_REGISTRY); the
built-in tasks and the calibrated models are pinned here (the report's wording), any other
task is named by its spec's display name.
"""

from __future__ import annotations

from inference.dispatch import METHOD_REGISTRY

TASK_NAMES = {"strategyqa": "StrategyQA", "sports_understanding": "Sports Understanding"}
CALIBRATION_NAMES = {"icl": "ICL baseline (base model, 4-shot)",
                     "finetuned": "Multitask fine-tuned",
                     "sports_icl": "ICL baseline (base model, 4-shot)",
                     "sports_finetuned": "Multitask fine-tuned",
                     "combined": "The critic: fine-tuned + verification + agreement, combined",
                     "sports_combined": "The critic: fine-tuned + verification + agreement, "
                                        "combined"}
# Table 2's baselines (eval.detection_baselines), by name.
BASELINE_NAMES = {"prior": "Baseline: the prior (constant training 'no error' share)",
                  "agreement": "Baseline: self-consistency agreement (training-free)",
                  "icl_cf": "Baseline: ICL, content-free calibrated",
                  "sports_rules": "Baseline: vocab.json rule checker (ceiling)",
                  "verification": "Signal alone: verification against the verifier's chains "
                                  "(training-free)",
                  "verifier_agreement": "Signal alone: the verifier's answer agreement "
                                        "(training-free)",
                  "subquestion_verification": "Signal alone: verification against the "
                                              "verifier's answers to planned subquestions"}
# Which detection set each calibration row scores.
DETECTION_SET_NAMES = {"strategyqa": "StrategyQA, the paper's 173 calibration records",
                       "sports_understanding": "Sports, 20% of the paper's feedback held out "
                                               "by question, not by fact"}
# Table 1's CoT row when the base was pre-trained by rhf on the chain format itself (the
# shipped tiny base): not the paper's 4-shot in-context learning.
PRETRAINED_COT = "CoT {k}-shot, with a base pre-trained on this very format"


def base_pretrained_on_format(report: dict) -> bool:
    """Whether the report's base model is an rhf-pretrained base (``rhf model pretrain-tiny``:
    BIG-bench's explanations in the chain format), as its rhf_model.json says."""
    record = (report.get("models", {}).get("base_model") or {}).get("rhf_model") or {}
    return record.get("stage") == "pretrained"


def table1_title(report: dict, method: str) -> str:
    """Table 1's row name: cot on an rhf-pretrained base says so (and its k); the rest as
    :func:`method_title`."""
    if method == "cot" and base_pretrained_on_format(report):
        return PRETRAINED_COT.format(k=report.get("config", {}).get("k", "k"))
    return method_title(method)


def method_title(method: str) -> str:
    """The method's display name: its registry entry's title (its name when it has none, or
    when no entry has that name, e.g. in an old report)."""
    return METHOD_REGISTRY.get(method).display_title if method in METHOD_REGISTRY else method
