"""Chains, inference methods (cot, multitask, wsc, refine) and the model service."""
