"""The run's state: its config (``config`` dataclasses, ``config_load``, ``config_checks``),
its checkpoints (``checkpoint``: save, load, manifest, RNG state, refusals;
``checkpoint_room``: room on the disk), its folder (``run_folder``: checks, lock, marks,
run.json, the resume rules), its metrics file (``metrics_log``) and its stop signals
(``stop_signals``). ``--resume`` reads in two files: run_folder.py, then checkpoint.py."""
