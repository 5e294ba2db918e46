"""--device and --dtype: what auto picks, what a machine cannot run (one line each), and
bfloat16 against float32 on the shipped tiny base.

Which GPU torch sees is monkeypatched, so every case runs (and means the same) on a CPU
machine and on a GPU one.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from inference import precision
from inference.precision import PrecisionError, resolve_device, resolve_dtype

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "models" / "tiny-base"


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


@pytest.fixture
def gpu(monkeypatch):
    """One visible GPU; the test sets its compute capability and name."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(precision, "probe_dtype", lambda dtype, device: None)

    def card(capability: tuple[int, int], name: str) -> None:
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda _d=None: capability)
        monkeypatch.setattr(torch.cuda, "get_device_name", lambda _d=None: name)
    return card


def test_auto_is_float32_on_cpu(no_gpu):
    assert resolve_device("auto") == resolve_device(None) == "cpu"
    assert resolve_dtype("auto", "cpu") == "float32"
    assert resolve_dtype("bfloat16", "cpu") == "bfloat16"  # this torch runs it on CPU


def test_auto_is_bfloat16_on_a_gpu_that_runs_it(gpu):
    gpu((9, 0), "NVIDIA H200")
    assert resolve_device("auto") == "cuda:0"
    assert resolve_device("cuda", local_rank=0) == "cuda:0"
    assert resolve_dtype("auto", "cuda:0") == "bfloat16"


def test_auto_is_float32_on_an_older_gpu_and_bfloat16_is_refused(gpu):
    gpu((7, 0), "Tesla V100-SXM2-16GB")
    assert resolve_dtype("auto", "cuda:0") == "float32"
    assert resolve_dtype("float16", "cuda:0") == "float16"
    with pytest.raises(PrecisionError) as info:
        resolve_dtype("bfloat16", "cuda:0")
    assert str(info.value) == (
        "--dtype bfloat16: cuda:0 (Tesla V100-SXM2-16GB, compute capability 7.0) cannot run "
        "bfloat16 natively (it needs compute capability 8.0); use --dtype float16 or float32")


def test_cuda_without_a_gpu_is_one_line(no_gpu):
    with pytest.raises(PrecisionError) as info:
        resolve_device("cuda")
    assert str(info.value).startswith("--device cuda: torch sees no CUDA GPU (torch ")
    assert str(info.value).endswith("); use --device cpu or auto")


def test_a_second_gpu_that_is_not_there_and_unknown_names(gpu):
    gpu((9, 0), "NVIDIA H200")
    with pytest.raises(PrecisionError, match=r"^--device cuda: this process needs cuda:1 but "
                                             r"torch sees 1 GPU$"):
        resolve_device("cuda", local_rank=1)  # process 1 of a launch on a 1-GPU machine
    with pytest.raises(PrecisionError, match=r"^--device 'tpu': expected auto, cpu, cuda"):
        resolve_device("tpu")
    with pytest.raises(PrecisionError, match=r"^--dtype 'fp8': expected one of auto, float32, "
                                             r"bfloat16, float16$"):
        resolve_dtype("fp8", "cpu")


def test_a_dtype_the_device_lacks_kernels_for_is_one_line(monkeypatch):
    """What an older CPU build of torch says for a float16 matmul."""
    def lacking(dtype, device):
        raise RuntimeError("\"addmm_impl_cpu_\" not implemented for 'Half'")

    monkeypatch.setattr(precision, "_run_probe", lacking)
    with pytest.raises(PrecisionError) as info:
        resolve_dtype("float16", "cpu")
    assert str(info.value) == ("--dtype float16: cpu cannot run float16 with this torch "
                               "(\"addmm_impl_cpu_\" not implemented for 'Half'); use --dtype "
                               "float32")


def test_a_model_that_overflows_float16_is_refused(tmp_path, tiny_t5):
    """Weights scaled up until T5's activations pass float16's 65504: load refuses the model
    instead of answering from infinities."""
    from safetensors.torch import load_file, save_file

    from inference.backends import Backend, ModelLoadError

    big = tmp_path / "big"
    big.mkdir()
    for f in tiny_t5.iterdir():
        (big / f.name).write_bytes(f.read_bytes())
    weights = load_file(big / "model.safetensors")
    save_file({k: v * 200 if "wi" in k or "wo" in k else v for k, v in weights.items()},
              big / "model.safetensors")
    assert Backend.load(big, dtype="float32").score(["a"], ["b"])[0] > float("-inf")
    with pytest.raises(ModelLoadError) as info:
        Backend.load(big, dtype="float16")
    assert str(info.value) == (f"{big}: float16 overflows in this model (non-finite "
                               "log-probabilities on a probe); use --dtype bfloat16 or float32")


def test_bfloat16_matches_float32_on_the_tiny_base(real_data):
    """Greedy CoT answers on the first 20 dev questions of each task agree on >= 95% of them
    (measured on 200 questions: 99%); P(no error) over the critic's labels agrees within 0.01
    (measured: at most 5e-4) and each label's log-probability within 10% (measured: 8%)."""
    from feedback_data.sources.splits import dev_examples
    from feedback_data.text.critic_labels import ERROR_LABELS, label_probabilities
    from feedback_data.text.instructions import error_types_prompt
    from inference.backends import Backend
    from inference.methods import run_cot

    runs = {}
    for dtype in ("float32", "bfloat16"):
        backend = Backend.load(BASE, dtype=dtype, device="cpu", batch_size=40)
        assert next(backend.model.parameters()).dtype == getattr(torch, dtype)
        assert backend.info["dtype"] == backend.dtype == dtype
        preds = []
        for task in ("strategyqa", "sports_understanding"):
            preds += run_cot(backend, dev_examples(task)[:20], task, [], max_new_tokens=12)
        rows = backend.score_choices([error_types_prompt("Is water wet?", p.text)
                                      for p in preds], list(ERROR_LABELS))
        runs[dtype] = preds, rows
    (full, full_rows), (half, half_rows) = runs["float32"], runs["bfloat16"]
    assert sum(a.answer is not None for a in full) >= 30  # answers to compare, not blanks
    same = sum(a.answer == b.answer for a, b in zip(full, half, strict=True))
    assert same / len(full) >= 0.95, same
    for a, b in zip(full_rows, half_rows, strict=True):
        assert label_probabilities(b)[0] == pytest.approx(label_probabilities(a)[0], abs=0.01)
        assert b == pytest.approx(a, rel=0.10)
