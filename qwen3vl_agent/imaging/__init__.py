"""Image loading, Qwen3-VL sizing and preparation for the wire."""

from qwen3vl_agent.imaging.loading import load_image
from qwen3vl_agent.imaging.prep import prepare_image
from qwen3vl_agent.imaging.sizing import fit_budget, smart_resize, visual_tokens

__all__ = ["fit_budget", "load_image", "prepare_image", "smart_resize", "visual_tokens"]
