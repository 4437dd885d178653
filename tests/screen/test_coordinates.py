"""Coordinate mapping over random monitor layouts (hypothesis): exact, clamped, invertible."""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from qwen3vl_agent.actions.model import Action, ActionType
from qwen3vl_agent.errors import CaptureError
from qwen3vl_agent.screen.coordinates import (
    CoordinateSpace,
    ensure_capture_still_valid,
    model_to_pixel,
    model_to_point,
    pixel_to_model,
    pixel_to_point,
    point_to_model,
    resolve_action,
)
from qwen3vl_agent.screen.geometry import CaptureGeometry, MonitorGeometry, Rect

SCALES = st.sampled_from([1.0, 1.25, 1.5, 2.0])
SPACES = st.one_of(
    st.just(CoordinateSpace("relative", 1000)),
    st.just(CoordinateSpace("relative", 999)),
    st.builds(
        lambda w, h: CoordinateSpace("absolute", image_size=(w, h)),
        st.integers(64, 2048),
        st.integers(64, 2048),
    ),
)


@st.composite
def layouts(draw: st.DrawFn) -> list[MonitorGeometry]:
    """1-4 monitors of different sizes side by side, vertical offsets and negative origins allowed.

    Positions and sizes are drawn in device points (multiples of 4, so that every scale gives
    whole pixels), as a scaled desktop lays monitors out on whole points.
    """
    scale = draw(SCALES)
    count = draw(st.integers(1, 4))
    monitors = []
    x_pt = 4 * draw(st.integers(-1000, 0))
    for i in range(count):
        w_pt = 4 * draw(st.integers(160, 960))
        h_pt = 4 * draw(st.integers(120, 540))
        y_pt = 4 * draw(st.integers(-400, 400))
        rect = Rect(round(x_pt * scale), round(y_pt * scale), round(w_pt * scale), round(h_pt * scale))
        monitors.append(MonitorGeometry(index=i + 1, rect=rect, scale=scale))
        x_pt += w_pt
    return monitors


@st.composite
def capture_of_layout(draw: st.DrawFn) -> CaptureGeometry:
    monitors = draw(layouts())
    mon = draw(st.sampled_from(monitors))
    return CaptureGeometry.of_monitor(mon)


def _point_area(g: CaptureGeometry) -> tuple[float, float, float, float]:
    ox, oy = g.origin_points
    sw, sh = g.size_points
    return ox, oy, ox + sw, oy + sh


@settings(max_examples=400, deadline=None)
@given(capture_of_layout(), SPACES, st.floats(-1e6, 1e6), st.floats(-1e6, 1e6))
def test_any_model_point_lands_inside_the_captured_area(
    g: CaptureGeometry, space: CoordinateSpace, x: float, y: float
) -> None:
    px, py = model_to_point(x, y, g, space)
    x0, y0, x1, y1 = _point_area(g)
    # the device point's unit square overlaps the captured area
    assert math.floor(x0 + 1e-9) <= px < x1 and math.floor(y0 + 1e-9) <= py < y1
    col, row = model_to_pixel(x, y, g, space)
    assert 0 <= col < g.width and 0 <= row < g.height


@settings(max_examples=400, deadline=None)
@given(capture_of_layout(), SPACES, st.data())
def test_round_trip_pixel_model_pixel_is_exact(
    g: CaptureGeometry, space: CoordinateSpace, data: st.DataObject
) -> None:
    col = data.draw(st.integers(0, g.width - 1))
    row = data.draw(st.integers(0, g.height - 1))
    mx, my = pixel_to_model(col, row, g, space)
    back = model_to_pixel(mx, my, g, space)
    assert abs(back[0] - col) <= 1 and abs(back[1] - row) <= 1
    assert back == (col, row)  # it is in fact exact


@settings(max_examples=300, deadline=None)
@given(capture_of_layout(), st.data())
def test_round_trip_with_integer_model_output_is_within_one_grid_step(
    g: CaptureGeometry, data: st.DataObject
) -> None:
    """The model writes integers: the error is then at most one grid cell (width/1000 pixels)."""
    space = CoordinateSpace()
    col = data.draw(st.integers(0, g.width - 1))
    row = data.draw(st.integers(0, g.height - 1))
    mx, my = pixel_to_model(col, row, g, space)
    back = model_to_pixel(round(mx), round(my), g, space)
    assert abs(back[0] - col) <= math.ceil(g.width / 1000) and abs(back[1] - row) <= math.ceil(
        g.height / 1000
    )


@settings(max_examples=300, deadline=None)
@given(capture_of_layout(), SPACES, st.data())
def test_round_trip_device_point_model_device_point(
    g: CaptureGeometry, space: CoordinateSpace, data: st.DataObject
) -> None:
    x0, y0, x1, y1 = _point_area(g)
    px = data.draw(st.integers(math.floor(x0), math.ceil(x1) - 1))
    py = data.draw(st.integers(math.floor(y0), math.ceil(y1) - 1))
    mx, my = point_to_model(px, py, g, space)
    back = model_to_point(mx, my, g, space)
    assert abs(back[0] - px) <= 1 and abs(back[1] - py) <= 1


@settings(max_examples=300, deadline=None)
@given(layouts(), st.data())
def test_pixel_maps_to_the_right_monitor(monitors: list[MonitorGeometry], data: st.DataObject) -> None:
    """A click on monitor k's screenshot lands on monitor k's points, whatever the neighbours."""
    mon = data.draw(st.sampled_from(monitors))
    g = CaptureGeometry.of_monitor(mon)
    col = data.draw(st.integers(0, g.width - 1))
    row = data.draw(st.integers(0, g.height - 1))
    px, py = pixel_to_point(col, row, g)
    # desktop pixel of that point, back through the monitor's scale
    assert mon.rect.contains(px * mon.scale, py * mon.scale)
    # and the point covers the pixel it came from (within one pixel of rounding)
    desktop_col = mon.rect.left + col
    assert abs(px * mon.scale - desktop_col) <= mon.scale + 1e-9


@settings(max_examples=200, deadline=None)
@given(capture_of_layout(), st.data())
def test_a_region_inside_a_monitor_maps_like_the_monitor(g: CaptureGeometry, data: st.DataObject) -> None:
    w = data.draw(st.integers(1, g.rect.width))
    h = data.draw(st.integers(1, g.rect.height))
    left = g.rect.left + data.draw(st.integers(0, g.rect.width - w))
    top = g.rect.top + data.draw(st.integers(0, g.rect.height - h))
    sub = g.sub_area(Rect(left, top, w, h))
    col = data.draw(st.integers(0, w - 1))
    row = data.draw(st.integers(0, h - 1))
    assert pixel_to_point(col, row, sub) == pixel_to_point(
        col + left - g.rect.left, row + top - g.rect.top, g
    )


def test_known_values_on_a_two_monitor_desktop_with_negative_offset() -> None:
    left = MonitorGeometry(1, Rect(-1280, 200, 1280, 1024))
    right = MonitorGeometry(2, Rect(0, 0, 3840, 2160), scale=2.0)
    gl = CaptureGeometry.of_monitor(left)
    gr = CaptureGeometry.of_monitor(right)
    assert model_to_point(0, 0, gl) == (-1280, 200)
    assert model_to_point(500, 500, gl) == (-640, 712)
    assert model_to_point(1000, 1000, gl) == (-1, 1223)  # the edge clamps inside
    assert model_to_point(500, 500, gr) == (960, 540)
    assert model_to_point(1000, 1000, gr) == (1919, 1079)
    assert model_to_point(999, 999, gr, CoordinateSpace("relative", 999)) == (1919, 1079)


def test_absolute_mode_uses_the_resized_image_as_the_grid() -> None:
    g = CaptureGeometry(Rect(0, 0, 1920, 1080))
    space = CoordinateSpace("absolute", image_size=(1344, 768))
    assert model_to_point(672, 384, g, space) == (960, 540)
    assert model_to_point(1344, 768, g, space) == (1919, 1079)


def test_resolve_action_maps_click_and_drag_start() -> None:
    g = CaptureGeometry.of_monitor(MonitorGeometry(2, Rect(1920, 176, 1280, 1024)))
    drag = Action(ActionType.LEFT_CLICK_DRAG, coordinate=(1000, 1000), start_coordinate=(0, 0))
    r = resolve_action(drag, g)
    assert r.start_point == (1920, 176) and r.point == (3199, 1199)
    assert resolve_action(Action(ActionType.TYPE, text="x"), g).point is None
    scroll = resolve_action(Action(ActionType.SCROLL, coordinate=(500, 500), pixels=-3), g)
    assert scroll.point == (2560, 688)


def test_non_finite_model_coordinates_are_refused() -> None:
    g = CaptureGeometry(Rect(0, 0, 100, 100))
    with pytest.raises(ValueError):
        model_to_point(float("nan"), 1, g)
    with pytest.raises(ValueError):
        model_to_point(1, float("inf"), g)


def test_a_screenshot_of_an_unplugged_monitor_is_refused() -> None:
    m1 = MonitorGeometry(1, Rect(0, 0, 1920, 1080))
    m2 = MonitorGeometry(2, Rect(1920, 0, 1280, 1024))
    desktop = MonitorGeometry(0, Rect(0, 0, 3200, 1080))
    g = CaptureGeometry.of_monitor(m2)
    ensure_capture_still_valid(g, [desktop, m1, m2])
    with pytest.raises(CaptureError, match="no longer connected"):
        ensure_capture_still_valid(g, [MonitorGeometry(0, m1.rect), m1])
    moved = MonitorGeometry(2, Rect(0, 1080, 1280, 1024))
    with pytest.raises(CaptureError, match="changed"):
        ensure_capture_still_valid(g, [desktop, m1, moved])
    region = CaptureGeometry(Rect(5000, 5000, 10, 10))
    with pytest.raises(CaptureError, match="no longer on the desktop"):
        ensure_capture_still_valid(region, [desktop, m1])


@given(st.integers(-5000, 5000), st.integers(-5000, 5000), st.integers(1, 5000), st.integers(1, 5000))
def test_rect_intersection_is_inside_both(left: int, top: int, w: int, h: int) -> None:
    a = Rect(0, 0, 1920, 1080)
    b = Rect(left, top, w, h)
    inter = a.intersect(b)
    assume(inter is not None)
    assert inter is not None
    for r in (a, b):
        assert (
            r.left <= inter.left
            and inter.right <= r.right
            and r.top <= inter.top
            and inter.bottom <= r.bottom
        )


def test_geometry_json_round_trip() -> None:
    g = CaptureGeometry(Rect(-1280, 200, 1280, 1024), scale=1.25, monitor_index=1, label="monitor 1")
    assert CaptureGeometry.from_json(g.to_json()).to_json() == g.to_json()
