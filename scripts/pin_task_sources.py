"""Write feedback_data/task_pins.json: the content digests of the built-in tasks' data.

Run once from faithful copies (the folders RHF_DATA_DIR names, or --from):

    python scripts/pin_task_sources.py --from ../shared/data

The pins were taken from BIG-bench's sports_understanding task.json and vocab.json (the same
examples as the ``bigbench==1.0.0`` sdist, checked against the project's earlier pins) and
StrategyQA's released training set (2,290 records, 2,289 distinct examples once converted to
BIG-bench's form). Every source a user's copy comes from is checked against them.
"""

from __future__ import annotations

import argparse
import json

from feedback_data.sources.task_sources import (
    BUILTIN,
    PINS_FILE,
    Source,
    _read,
    examples_digest,
    json_digest,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="folder", required=True,
                        help="a folder holding the built-in tasks' files")
    args = parser.parse_args()
    pins = {}
    for name in BUILTIN:
        data, vocab, where = _read(Source("folder", args.folder), name)
        keys, digest = examples_digest(data["examples"])
        pins[name] = {"from": where, "digest": digest, "examples": keys}
        if vocab is not None:
            pins[name]["vocab"] = json_digest(vocab)
        print(f"{name}: {len(keys)} distinct examples, digest {digest}")
    PINS_FILE.write_text(json.dumps(pins, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
