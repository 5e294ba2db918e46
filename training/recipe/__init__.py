"""The recipe: the shared training loop (``loop``), the objectives (``objectives``, the
registry; ``multitask`` and ``refine``, each with its pairs builder beside its name;
``pretrain``, the tiny base), evaluation during training (``evaluate``, ``validation``), the
step's loss and metrics window (``loss``, ``step_window``), the numerics guard, the trackers
and the model card. ``python -m training.recipe.multitask`` (or ``.refine``) runs one."""
