"""Where a model runs and in which precision: ``--device`` and ``--dtype``, checked up front.

``auto`` picks bfloat16 on a GPU that runs it natively (compute capability 8.0 or newer) and
float32 everywhere else (CPU, older GPUs: float16 would be faster there, but Flan-T5's
activations overflow it). Every check raises :class:`PrecisionError` with one line naming the
flag, so a command fails before it loads anything.
"""

from __future__ import annotations

from typing import Any

DTYPES: tuple[str, ...] = ("auto", "float32", "bfloat16", "float16")
DEVICES_HELP = "auto, cpu, cuda, cuda:N or mps"
# bfloat16 runs natively from Ampere (compute capability 8.0) on; older GPUs emulate or refuse.
BF16_MIN_CAPABILITY = (8, 0)


class PrecisionError(ValueError):
    """A --device or --dtype the machine cannot honour."""


def resolve_device(spec: str | None, local_rank: int = 0) -> str:
    """'auto'/None -> 'cuda' (this process's GPU under a launch) when torch sees one, else
    'cpu'; 'cuda' under a launch -> 'cuda:<local rank>'; anything unavailable is an error."""
    import torch

    spec = (spec or "auto").strip().lower()
    if spec == "auto":
        spec = "cuda" if torch.cuda.is_available() else "cpu"
    if spec == "cpu":
        return "cpu"
    if spec == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise PrecisionError("--device mps: torch sees no Apple GPU; use --device cpu")
        return "mps"
    if spec == "cuda" or spec.startswith("cuda:"):
        if not torch.cuda.is_available():
            build = ("a CPU-only build" if torch.version.cuda is None
                     else f"built for CUDA {torch.version.cuda}")
            raise PrecisionError(f"--device {spec}: torch sees no CUDA GPU (torch "
                                 f"{torch.__version__}, {build}); use --device cpu or auto")
        index = local_rank if spec == "cuda" else _index(spec)
        count = torch.cuda.device_count()
        if index >= count:
            raise PrecisionError(f"--device {spec}: this process needs cuda:{index} but torch "
                                 f"sees {count} GPU{'s' if count != 1 else ''}")
        return f"cuda:{index}"
    raise PrecisionError(f"--device {spec!r}: expected {DEVICES_HELP}")


def _index(spec: str) -> int:
    tail = spec.partition(":")[2]
    if not tail.isdigit():
        raise PrecisionError(f"--device {spec!r}: expected {DEVICES_HELP}")
    return int(tail)


def resolve_dtype(spec: str | None, device: str) -> str:
    """The dtype name to load in on ``device``; an unknown name, or one the device cannot run,
    is a :class:`PrecisionError`."""
    spec = (spec or "auto").strip().lower()
    if spec not in DTYPES:
        raise PrecisionError(f"--dtype {spec!r}: expected one of {', '.join(DTYPES)}")
    if spec == "auto":
        return "bfloat16" if device.startswith("cuda") and _gpu_bf16(device) else "float32"
    if spec == "bfloat16" and device.startswith("cuda") and not _gpu_bf16(device):
        raise PrecisionError(f"--dtype bfloat16: {_gpu_name(device)} cannot run bfloat16 "
                             f"natively (it needs compute capability "
                             f"{'.'.join(map(str, BF16_MIN_CAPABILITY))}); use --dtype float16 "
                             "or float32")
    if spec != "float32":
        probe_dtype(spec, device)
    return spec


def _gpu_bf16(device: str) -> bool:
    import torch

    return torch.cuda.get_device_capability(device) >= BF16_MIN_CAPABILITY


def _gpu_name(device: str) -> str:
    import torch

    major, minor = torch.cuda.get_device_capability(device)
    return f"{device} ({torch.cuda.get_device_name(device)}, compute capability {major}.{minor})"


def probe_dtype(dtype: str, device: str) -> None:
    """Run the operations a transformer needs (matmul, softmax, layer norm) in ``dtype`` on
    ``device``; a build that lacks a kernel (e.g. float16 matmul on older CPU builds of torch)
    fails here with one line instead of in the middle of generation."""
    try:
        _run_probe(dtype, device)
    except (RuntimeError, TypeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise PrecisionError(f"--dtype {dtype}: {device} cannot run {dtype} with this torch "
                             f"({first}); use --dtype float32") from exc


def _run_probe(dtype: str, device: str) -> None:
    import torch

    x = torch.linspace(-1, 1, 64, device=device).reshape(8, 8).to(torch_dtype(dtype))
    y = torch.nn.functional.layer_norm(torch.softmax(x @ x.T, dim=-1), (8,))
    float(y.float().sum())


def torch_dtype(name: str) -> Any:
    import torch

    return {"float32": torch.float32, "bfloat16": torch.bfloat16,
            "float16": torch.float16}[name]
