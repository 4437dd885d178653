"""Wayland coordinate maps without a compositor: points <-> stream pixels at several scales
(a real session at 1.25 is tested in test_wayland_fractional.py)."""

from __future__ import annotations

import pytest

from qwen3vl_agent.wayland.mutter import Stream, WaylandMonitor


@pytest.mark.parametrize("scale", [1.0, 1.25, 1.5, 2.0])
def test_points_map_onto_stream_pixels_exactly(scale: float) -> None:
    monitor = WaylandMonitor("DP-2", 1536, 0, 1280, 800, scale)
    stream = Stream(monitor, "/stream", 42, round(1280 * scale), round(800 * scale))
    assert stream.to_stream(1536, 0) == (0, 0)
    assert stream.to_stream(1536 + 640, 400) == (640 * scale, 400 * scale)
    assert stream.to_stream(1536 + 1279, 799) == (1279 * scale, 799 * scale)
    assert monitor.contains(1536, 0) and not monitor.contains(1536 + 1280, 0)
