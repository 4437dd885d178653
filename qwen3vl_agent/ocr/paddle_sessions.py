"""How PaddleOCR's two ONNX Runtime sessions (rapidocr) use threads and memory.

Each setting was measured in the job's one PaddleOCR process (docs/benchmarks.md, issue 16,
`benchmarks/ocr_memory_phases.py`):

* idle intra-op threads sleep instead of spinning (spinning cost 50 % more CPU per page on a
  shared box); rapidocr has no setting for it, so its session options get one more entry;
* the detector's activations (≈85-115 MB for an A4 page at 960 px) live in their own memory maps
  (`heap.mapped_allocations`): on glibc's heap they left holes that the page's later steps could
  not fill, so the detector's step peaked up to 166 MB above where it started (220 MB on a
  process's first page) instead of the ≈115 MB it holds;
* the recogniser runs without ONNX Runtime's memory patterns: a pattern is recorded per input
  shape and every text line is a new width, so it only cost memory and time (a page of long Latin
  lines: +130-230 MB with patterns, +100-160 MB and ≈20 % less CPU without).

rapidocr builds a session when a model is first used; `tune` loads both at once, the recogniser
with its own options.
"""

from __future__ import annotations

from typing import Any

from qwen3vl_agent.ocr import heap

MEM_PATTERN_KEY = "enable_mem_pattern"  # an entry of rapidocr's EngineConfig.onnxruntime, read here


def _patch_session_options() -> None:
    """rapidocr's session options, plus: idle threads sleep, and `enable_mem_pattern` from its
    engine config (only in this process, for the sessions built here)."""
    from rapidocr.inference_engine.onnxruntime import main as ort_main

    build = ort_main.OrtInferSession._init_sess_opts
    if getattr(build, "_qwen3vl_tuned", False):
        return

    def tuned(cfg: Any) -> Any:
        options = build(cfg)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.enable_mem_pattern = bool(cfg.get(MEM_PATTERN_KEY, True))
        return options

    tuned._qwen3vl_tuned = True  # type: ignore[attr-defined]
    ort_main.OrtInferSession._init_sess_opts = staticmethod(tuned)  # type: ignore[method-assign]


class MappedSession:
    """A rapidocr session whose runs allocate their big buffers in their own memory maps."""

    def __init__(self, session: Any) -> None:
        self.session = session

    def __call__(self, inputs: Any) -> Any:
        with heap.mapped_allocations():
            return self.session(inputs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.session, name)


def new_engine(params: dict[str, Any]) -> Any:
    """A `RapidOCR` with both models loaded and its sessions tuned (the module's note)."""
    from rapidocr import RapidOCR

    _patch_session_options()
    engine = RapidOCR(params=params)
    detector = engine._load_det_model()
    detector.session = MappedSession(detector.session)
    engine.cfg.EngineConfig.onnxruntime[MEM_PATTERN_KEY] = False
    engine._load_rec_model()
    return engine


def session_options(engine: Any) -> dict[str, Any]:
    """What the loaded sessions run with: for the tests and benchmarks."""
    detector, recogniser = engine.text_det.session, engine.text_rec.session
    det = detector.session.session if isinstance(detector, MappedSession) else detector.session
    det_options, rec_options = det.get_session_options(), recogniser.session.get_session_options()
    return {
        "det_mapped": isinstance(detector, MappedSession),
        "det_mem_pattern": det_options.enable_mem_pattern,
        "rec_mem_pattern": rec_options.enable_mem_pattern,
        "spinning": {
            det_options.get_session_config_entry("session.intra_op.allow_spinning"),
            rec_options.get_session_config_entry("session.intra_op.allow_spinning"),
        },
        "cpu_mem_arena": {det_options.enable_cpu_mem_arena, rec_options.enable_cpu_mem_arena},
    }
