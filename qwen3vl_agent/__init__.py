"""qwen3vl-agent: a private desktop assistant on a local Qwen3-VL served by vLLM."""

__version__ = "0.1.0"
