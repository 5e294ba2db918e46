"""Fine-tuning recipes on rich feedback (multitask, refine) with accelerate and peft."""
