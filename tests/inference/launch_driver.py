"""Run several `rhf` commands, given as a JSON list of argument lists, in one process, so a
test launches the interpreters of a data-parallel launch once for all of them.

    accelerate launch --num_processes 2 tests/inference/launch_driver.py '[["chains", ...]]'
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from rhf_cli import app  # noqa: E402

for args in json.loads(sys.argv[1]):
    code = app(args, standalone_mode=False)
    if code:
        raise SystemExit(code)
