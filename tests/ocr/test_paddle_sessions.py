"""The memory settings of PaddleOCR's ONNX Runtime sessions really reach the sessions, and the
detector's big buffers really get their own memory maps (what brought a mixed Latin/Chinese job
under 400 MB, docs/benchmarks.md issue 16). Real rapidocr sessions, real glibc."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from qwen3vl_agent.ocr import heap, paddle_engine, paddle_sessions
from qwen3vl_agent.ocr.cpu_engine import CpuOptions, recognise_image
from tests.support.ocr_documents import cjk_cer, mixed_invoice_page

glibc = pytest.mark.skipif(heap._libc() is None, reason="no glibc: mallopt and malloc_trim do nothing")


@pytest.mark.skipif(not paddle_engine.is_available(), reason="rapidocr is not installed")
def test_the_sessions_run_with_the_measured_memory_settings_and_still_read() -> None:
    engine = paddle_engine._engine(2)
    assert paddle_sessions.session_options(engine) == {
        "det_mapped": True,  # the detector's runs: big buffers in their own maps
        "det_mem_pattern": True,  # one block per page size, mapped once per run
        "rec_mem_pattern": False,  # every text line is a new shape
        "spinning": {"0"},
        "cpu_mem_arena": {False},
    }
    page = mixed_invoice_page()
    result = recognise_image(page.image, CpuOptions(lang="chi_sim", paddle_threads=2))
    assert cjk_cer(page.text, result.text) <= 0.01


@glibc
def test_big_buffers_get_their_own_maps_only_inside_mapped_allocations() -> None:
    """In a fresh process (glibc maps a big allocation on its own only when no free hole of the
    heap fits it; a process that has read pages has such holes, and reusing them is fine)."""
    out = subprocess.run(
        [sys.executable, "-c", _WHERE_BUFFERS_LIVE], capture_output=True, text=True, check=True
    )
    before, inside, outside = json.loads(out.stdout)
    size = 4 << 20
    assert before["name"] == "[heap]"  # what the detector's buffers did before
    assert inside["name"] == "" and size <= inside["size"] < size + (1 << 20)  # its own map, its size
    assert outside["name"] == "[heap]"  # under 32 MiB: on the heap, as glibc does after its first frees


_WHERE_BUFFERS_LIVE = """
import ctypes, json
from qwen3vl_agent.ocr import heap

libc = ctypes.CDLL("libc.so.6")
malloc, free = libc.malloc, libc.free
malloc.restype, free.argtypes = ctypes.c_void_p, [ctypes.c_void_p]

def mapping_of(address):
    with open("/proc/self/maps") as maps:
        for line in maps:
            fields = line.split()
            start, end = (int(x, 16) for x in fields[0].split("-"))
            if start <= address < end:
                return {"size": end - start, "name": fields[5] if len(fields) > 5 else ""}

free(malloc(8 << 20))  # glibc's sliding threshold rises to 8 MiB, as after a page's first buffers
before = malloc(4 << 20)
with heap.mapped_allocations():
    inside = malloc(4 << 20)
outside = malloc(4 << 20)
print(json.dumps([mapping_of(before), mapping_of(inside), mapping_of(outside)]))
"""
