"""Early engine deaths become one clear reason: the log lines vLLM really prints for each cause."""

from __future__ import annotations

import pytest

from qwen3vl_agent.engine.log_diagnosis import diagnose, last_error_lines

CASES = [
    ("group_guard: cannot execute '/opt/nope/bin/vllm': No such file or directory", "not installed"),
    ("/usr/bin/python3: Error while finding module specification for 'vllm.entrypoints.openai.api_server' "
     "(ModuleNotFoundError: No module named 'vllm')", "not installed in the engine's Python"),
    ("importlib.metadata.PackageNotFoundError: No package metadata was found for vllm", "vllm serve"),
    ("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB", "out of memory"),
    ("ValueError: To serve at least one request with the models's max seq len (32768), (4.5 GiB KV cache "
     "is needed, which is larger than the available KV cache memory (1.2 GiB)", "out of memory"),
    ("RuntimeError: No CUDA GPUs are available", "no usable CUDA GPU"),
    ("RuntimeError: Failed to infer device type", "no usable CUDA GPU"),
    ("OSError: We couldn't connect to 'https://huggingface.co' to load the files, and couldn't find them "
     "in the cached files.", "model was not found"),
    ("huggingface_hub.errors.RepositoryNotFoundError: 401 Client Error. Repository Not Found for url",
     "model was not found"),
    ("OSError: [Errno 98] Address already in use", "port is already in use"),
    ("api_server.py: error: unrecognized arguments: --trust-request-mm-kwargs", "does not know one of"),
]  # fmt: skip


@pytest.mark.parametrize(("line", "expected"), CASES)
def test_each_known_cause_is_named(line: str, expected: str) -> None:
    log = f"INFO starting\nsome noise\n{line}\nINFO shutting down\n"
    diagnosis = diagnose(log, 1)
    assert expected in diagnosis.reason
    assert diagnosis.hint


def test_unknown_death_quotes_the_last_error_lines() -> None:
    log = 'INFO a\nTraceback (most recent call last):\n  File "x.py", line 1\nValueError: the flux capacitor\nINFO bye\n'
    diagnosis = diagnose(log, 3)
    assert "status 3" in diagnosis.reason and "flux capacitor" in diagnosis.reason
    assert last_error_lines("just one line") == ["just one line"]
