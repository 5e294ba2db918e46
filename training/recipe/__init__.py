"""The recipe: the shared training loop (``loop``), the objectives (``objectives``, the
registry, each entry naming its pairs builder, collator terms and validator; ``run_objective``,
an entry run by the loop; ``multitask``, ``refine`` and ``critic``, their launch modules;
``pretrain``, the tiny base), evaluation during training (``evaluate``, ``validation``), the
step's loss and metrics window (``loss``, ``step_window``), the numerics guard, the trackers
and the model card. ``python -m training.recipe.multitask`` (or ``.refine``) runs one."""
