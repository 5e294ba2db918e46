"""The model room: loading a model and tokenizer, optimizer and schedule, LoRA and merging
(``modeling``), and the tiny models built without a download (``tiny_model``)."""
