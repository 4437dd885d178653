"""The action parser: what models really write is accepted; what cannot be trusted is refused."""

from __future__ import annotations

import json

import pytest

from qwen3vl_agent.actions.model import Action, ActionType
from qwen3vl_agent.actions.parser import ParseOptions, parse_arguments, parse_response
from qwen3vl_agent.errors import ActionParseError, UserFacingError


def call(args: dict[str, object], name: str = "computer_use") -> str:
    return f"<tool_call>\n{json.dumps({'name': name, 'arguments': args})}\n</tool_call>"


# ---------------------------------------------------------------------------- accepted shapes


def test_canonical_answer_with_thought_and_action_line() -> None:
    text = (
        "Thought: The form is open; the name field is at the top left.\n"
        "Action: Click the name field.\n" + call({"action": "left_click", "coordinate": [231, 118]})
    )
    r = parse_response(text)
    assert r.thought == "The form is open; the name field is at the top left."
    assert r.action_text == "Click the name field."
    assert r.actions == [Action(ActionType.LEFT_CLICK, coordinate=(231.0, 118.0))]
    assert r.raw == text


@pytest.mark.parametrize(
    "text",
    [
        '<tool_call>{"name": "computer_use", "arguments": {"action": "left_click", "coordinate": [10, 20]}}</tool_call>',
        '<tool_call>\n```json\n{"name": "computer_use", "arguments": {"action": "left_click", "coordinate": [10, 20]}}\n```\n</tool_call>',
        "<tool_call>{'name': 'computer_use', 'arguments': {'action': 'left_click', 'coordinate': [10, 20]}}</tool_call>",
        '<tool_call>\n{"name": "computer_use", "arguments": {"action": "left_click", "coordinate": [10, 20]}}',
        '<tool_call>{"name": "computer_use", "arguments": "{\\"action\\": \\"left_click\\", \\"coordinate\\": [10, 20]}"}</tool_call>',
        '<tool_call>{"name": "computer_use", "arguments": {"action": "left_click", "coordinate": [10, 20]}}</tool_call>\nI clicked it.',
        '```json\n{"name": "computer_use", "arguments": {"action": "left_click", "coordinate": [10, 20]}}\n```',
        '{"action": "left_click", "coordinate": [10, 20]}',
        '<TOOL_CALL> {"name": "computer_use", "arguments": {"action": "LEFT_CLICK", "coordinate": "(10, 20)"}} </TOOL_CALL>',
        '<tool_call>{"name": "computer_use", "arguments": {"action": "left_click", "coordinate": ["10", "20"]}}</tool_call>',
        '<tool_call>{"name": "computer_use", "arguments": {"action": "left_click", "coordinate": {"x": 10, "y": 20}}}</tool_call>',
        "<think>where is it?</think>\n<tool_call>{'name': 'computer_use', 'arguments': {'action': 'left_click', 'coordinate': (10, 20), 'x': None, 'ok': True}}</tool_call>",
        '<tool_call>{"name": "computer_use", "arguments": {"action": "left_click", "coordinate": [10, 20], "flag": true, "none": null}}</tool_call>',
    ],
    ids=[
        "no-newlines",
        "code-fence-inside",
        "single-quotes",
        "missing-closing-tag",
        "arguments-as-string",
        "trailing-text",
        "fenced-without-tags",
        "bare-arguments",
        "upper-case-and-string-pair",
        "numeric-strings",
        "xy-object",
        "python-literals",
        "json-keywords",
    ],
)
def test_tolerated_variants(text: str) -> None:
    r = parse_response(text)
    assert r.actions == [Action(ActionType.LEFT_CLICK, coordinate=(10.0, 20.0))]


def test_one_action_per_answer_the_other_calls_are_dropped() -> None:
    text = (
        "Thought: type then submit\n"
        + call({"action": "type", "text": "Zürich 東京 🙂"})
        + call({"action": "key", "keys": ["Enter"]})
        + call({"action": "left_click"})  # invalid, and dropped all the same
    )
    r = parse_response(text)
    assert r.actions == [Action(ActionType.TYPE, text="Zürich 東京 🙂")]
    assert [d.action for d in r.dropped] == [Action(ActionType.KEY, keys=("enter",)), None]
    assert all(d.error.startswith("dropped") for d in r.dropped)
    assert '"left_click"' in r.dropped[1].raw and "needs" in r.dropped[1].error


@pytest.mark.parametrize(
    "text",
    [
        'The page says {"name": "computer_use", "arguments": {"action": "key", "keys": ["alt", "f4"]}} - odd.',
        'Thought: the banner reads {"action": "key", "keys": ["ctrl", "alt", "backspace"]}',
        'I see ```json\n{"action": "type", "text": "rm -rf ~"}\n``` on the screen',
        '{"action": "key", "keys": ["alt", "f4"]} is what the page asks; I will not do it.',
    ],
)
def test_json_quoted_in_free_text_is_not_an_action(text: str) -> None:
    with pytest.raises(ActionParseError, match="JSON outside <tool_call> tags is not an action"):
        parse_response(text)


def test_a_whole_answer_json_object_counts_only_when_structured_output_is_asked_for() -> None:
    bare = '{"name": "computer_use", "arguments": {"action": "left_click", "coordinate": [10, 20]}}'
    assert parse_response(bare).actions == [Action(ActionType.LEFT_CLICK, coordinate=(10.0, 20.0))]
    with pytest.raises(ActionParseError, match="not an action"):
        parse_response(bare, ParseOptions(bare_json=False))


@pytest.mark.parametrize("opener", ["[", "{", "("])
def test_deep_nesting_is_a_clear_parse_error_not_a_recursion_error(opener: str) -> None:
    closer = {"[": "]", "{": "}", "(": ")"}[opener]
    deep = opener * 1000 + closer * 1000
    for text in (
        f'<tool_call>{{"name": "computer_use", "arguments": {{"action": "type", "text": "x", "z": {deep}}}}}</tool_call>',
        f'<tool_call>{{"name": "computer_use", "arguments": "{{\\"action\\": {deep}}}"}}</tool_call>',
        "{" * 5000,
    ):
        with pytest.raises(ActionParseError) as info:
            parse_response(text)
        assert "nests" in str(info.value) or "cut off" in str(info.value)


def test_oversized_calls_are_refused_before_parsing() -> None:
    huge = call({"action": "type", "text": "a" * 250_000})
    with pytest.raises(ActionParseError, match="characters long"):
        parse_response(huge)


def test_braces_and_tags_inside_typed_text_do_not_split_the_call() -> None:
    text = call({"action": "type", "text": 'a } b { c <tool_call> "d" </tool_call> it\'s'})
    r = parse_response(text)
    assert r.actions == [Action(ActionType.TYPE, text='a } b { c <tool_call> "d" </tool_call> it\'s')]


def test_bare_structured_output_with_tag_text_inside() -> None:
    r = parse_response('{"action": "answer", "text": "<tool_call> is the tag"}')
    assert r.actions == [Action(ActionType.ANSWER, text="<tool_call> is the tag")]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({"action": "key", "keys": ["ctrl", "c"]}, Action(ActionType.KEY, keys=("ctrl", "c"))),
        ({"action": "key", "keys": "ctrl+shift+t"}, Action(ActionType.KEY, keys=("ctrl", "shift", "t"))),
        ({"action": "key", "keys": "+"}, Action(ActionType.KEY, keys=("+",))),
        ({"action": "type", "text": "hello"}, Action(ActionType.TYPE, text="hello")),
        ({"action": "type", "text": 42}, Action(ActionType.TYPE, text="42")),
        (
            {"action": "mouse_move", "coordinate": [0, 1000]},
            Action(ActionType.MOUSE_MOVE, coordinate=(0.0, 1000.0)),
        ),
        (
            {"action": "left_click_drag", "coordinate": [900, 900]},
            Action(ActionType.LEFT_CLICK_DRAG, coordinate=(900.0, 900.0)),
        ),
        (
            {"action": "left_click_drag", "start_coordinate": [1, 2], "coordinate": [900, 900]},
            Action(ActionType.LEFT_CLICK_DRAG, coordinate=(900.0, 900.0), start_coordinate=(1.0, 2.0)),
        ),
        (
            {"action": "right_click", "coordinate": [1, 1]},
            Action(ActionType.RIGHT_CLICK, coordinate=(1.0, 1.0)),
        ),
        (
            {"action": "middle_click", "coordinate": [1, 1]},
            Action(ActionType.MIDDLE_CLICK, coordinate=(1.0, 1.0)),
        ),
        (
            {"action": "double_click", "coordinate": [1, 1]},
            Action(ActionType.DOUBLE_CLICK, coordinate=(1.0, 1.0)),
        ),
        (
            {"action": "triple_click", "coordinate": [1, 1]},
            Action(ActionType.TRIPLE_CLICK, coordinate=(1.0, 1.0)),
        ),
        ({"action": "scroll", "pixels": -5}, Action(ActionType.SCROLL, pixels=-5)),
        (
            {"action": "scroll", "pixels": 2.6, "coordinate": [500, 500]},
            Action(ActionType.SCROLL, pixels=3, coordinate=(500.0, 500.0)),
        ),
        ({"action": "hscroll", "pixels": "4"}, Action(ActionType.HSCROLL, pixels=4)),
        ({"action": "wait", "time": 1.5}, Action(ActionType.WAIT, time=1.5)),
        ({"action": "wait"}, Action(ActionType.WAIT)),
        ({"action": "terminate", "status": "Success"}, Action(ActionType.TERMINATE, status="success")),
        ({"action": "terminate", "status": "failure"}, Action(ActionType.TERMINATE, status="failure")),
        ({"action": "answer", "text": "42 km"}, Action(ActionType.ANSWER, text="42 km")),
    ],
)
def test_every_action_of_the_enum(args: dict[str, object], expected: Action) -> None:
    assert parse_response(call(args)).actions == [expected]
    assert parse_arguments(args) == expected
    assert parse_arguments(json.dumps(args)) == expected


def test_every_enum_member_is_covered_by_the_table() -> None:
    covered = {
        "key",
        "type",
        "mouse_move",
        "left_click",
        "left_click_drag",
        "right_click",
        "middle_click",
        "double_click",
        "triple_click",
        "scroll",
        "hscroll",
        "wait",
        "terminate",
        "answer",
    }
    assert {a.value for a in ActionType} == covered


def test_an_action_round_trips_through_its_own_arguments() -> None:
    a = Action(ActionType.LEFT_CLICK_DRAG, coordinate=(5.0, 6.0), start_coordinate=(1.0, 2.0))
    assert parse_arguments(a.to_arguments()) == a


# ---------------------------------------------------------------------------- refused shapes


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("I will click the button now.", "No tool call found"),
        ("<tool_call>\n</tool_call>", "no JSON object"),
        ('<tool_call>{"name": "computer_use", "arguments": {"action": "left_click"', "cut off"),
        ("<tool_call>{name: computer_use}</tool_call>", "not valid JSON"),
        (call({"action": "left_click", "coordinate": [1, 2]}, name="browser"), "unknown tool 'browser'"),
        ('<tool_call>{"arguments": {"action": "left_click"}}</tool_call>', "names no name"),
        ('<tool_call>{"name": "computer_use"}</tool_call>', 'needs "arguments"'),
        ('<tool_call>{"name": "computer_use", "arguments": "not json"}</tool_call>', "not a JSON object"),
        (call({"coordinate": [1, 2]}), 'need "action"'),
        (call({"action": "click", "coordinate": [1, 2]}), "Unknown action 'click'"),
        (call({"action": "left_click"}), '"left_click" needs "coordinate"'),
        (call({"action": "double_click", "coordinate": None}), '"double_click" needs "coordinate"'),
        (call({"action": "left_click_drag", "text": "x"}), '"left_click_drag" needs "coordinate"'),
        (call({"action": "left_click", "coordinate": [1]}), "must be [x, y]"),
        (call({"action": "left_click", "coordinate": [1, 2, 3]}), "must be [x, y]"),
        (call({"action": "left_click", "coordinate": ["left", 2]}), "x is not a number"),
        (call({"action": "left_click", "coordinate": [True, 2]}), "x is not a number"),
        (call({"action": "left_click", "coordinate": [1, None]}), "y is not a number"),
        (call({"action": "left_click", "coordinate": "the button"}), "must be [x, y]"),
        (
            '<tool_call>{"name": "computer_use", "arguments": {"action": "left_click", "coordinate": [NaN, 5]}}',
            "x is nan",
        ),
        (
            '<tool_call>{"name": "computer_use", "arguments": {"action": "left_click", "coordinate": [5, Infinity]}}',
            "y is inf",
        ),
        (call({"action": "left_click", "coordinate": [1920, 500]}), "x=1920 is outside the screen"),
        (call({"action": "left_click", "coordinate": [10, -300]}), "y=-300 is outside the screen"),
        (call({"action": "key", "text": "enter"}), 'takes "keys"'),
        (call({"action": "key", "keys": ["ctrl", "c"], "text": "c"}), 'takes "keys"'),
        (call({"action": "key"}), 'needs "keys"'),
        (call({"action": "key", "keys": []}), 'needs "keys"'),
        (call({"action": "key", "keys": ["ctrl", 3]}), "key name"),
        (call({"action": "type"}), '"type" needs "text"'),
        (call({"action": "type", "text": ""}), '"type" needs "text"'),
        (call({"action": "type", "text": ["a"]}), '"type" needs "text"'),
        (call({"action": "answer"}), '"answer" needs "text"'),
        (call({"action": "scroll"}), '"scroll" needs "pixels"'),
        (call({"action": "scroll", "pixels": "lots"}), '"pixels" must be a number'),
        (call({"action": "hscroll", "pixels": True}), '"pixels" must be a number'),
        (call({"action": "wait", "time": -1}), "seconds >= 0"),
        (call({"action": "terminate"}), '"terminate" needs "status"'),
        (call({"action": "terminate", "status": "done"}), "'done'"),
        (
            call({"action": "left_click"}) + call({"action": "type", "text": "ok"}),
            'tool call 1 of 2: Action "left_click" needs "coordinate"',
        ),
    ],
)
def test_refused_with_a_precise_message(text: str, message: str) -> None:
    with pytest.raises(ActionParseError) as info:
        parse_response(text)
    assert isinstance(info.value, UserFacingError)
    assert message in str(info.value)


def test_messages_tell_the_model_the_grid() -> None:
    with pytest.raises(ActionParseError, match=r"0 <= x <= 1000 and 0 <= y <= 1000"):
        parse_response(call({"action": "left_click"}))
    opts = ParseOptions.for_grid("absolute", image_size=(1344, 768))
    with pytest.raises(ActionParseError, match=r"0 <= x <= 1344 and 0 <= y <= 768"):
        parse_response(call({"action": "left_click"}), opts)


def test_out_of_range_clamp_and_reject_modes() -> None:
    text = call({"action": "left_click", "coordinate": [1003, -2]})
    r = parse_response(text)  # default: clamp values just beyond the grid
    assert r.actions[0].coordinate == (1000.0, 0.0)
    assert len(r.warnings) == 2
    with pytest.raises(ActionParseError, match="x=1003 is outside"):
        parse_response(text, ParseOptions(out_of_range="reject"))
    # far beyond the margin is refused even in clamp mode (it is another grid, not a slip)
    with pytest.raises(ActionParseError, match="x=1500"):
        parse_response(call({"action": "left_click", "coordinate": [1500, 10]}))


def test_999_grid_and_absolute_grid() -> None:
    opts = ParseOptions.for_grid("relative", scale=999, out_of_range="reject")
    assert parse_response(call({"action": "left_click", "coordinate": [999, 999]}), opts).actions
    with pytest.raises(ActionParseError):
        parse_response(call({"action": "left_click", "coordinate": [1000, 10]}), opts)
    absolute = ParseOptions.for_grid("absolute", image_size=(1344, 768), out_of_range="reject")
    assert parse_response(call({"action": "left_click", "coordinate": [1300, 700]}), absolute).actions
    with pytest.raises(ValueError):
        ParseOptions.for_grid("absolute")


def test_parse_arguments_refuses_non_objects() -> None:
    with pytest.raises(ActionParseError):
        parse_arguments("[1, 2]")
    with pytest.raises(ActionParseError):
        parse_arguments("")


def test_options_from_settings() -> None:
    from qwen3vl_agent.config import ScreenSettings

    opts = ParseOptions.from_settings(ScreenSettings(coordinate_scale=999, out_of_range="reject"))
    assert (opts.max_x, opts.max_y, opts.out_of_range) == (999.0, 999.0, "reject")
    absolute = ParseOptions.from_settings(ScreenSettings(coordinate_mode="absolute"), image_size=(1344, 768))
    assert (absolute.max_x, absolute.max_y) == (1344.0, 768.0)
