"""The computer_use tool, system prompt and strict arguments schema shipped as data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from qwen3vl_agent.actions.model import POINTER_ACTIONS, Action, ActionType
from qwen3vl_agent.actions.parser import ParseOptions, parse_arguments, parse_response
from qwen3vl_agent.errors import ActionParseError
from qwen3vl_agent.resources_loader import (
    action_arguments_schema,
    computer_use_system_prompt,
    computer_use_tool,
    known_key_names,
)

REPO = Path(__file__).resolve().parents[2]
ENGINE_PYTHON = REPO / ".cache" / "engine-venv" / "bin" / "python"


def test_tool_lists_every_action_and_parameter() -> None:
    tool = computer_use_tool()
    fn = tool["function"]
    assert tool["type"] == "function" and fn["name"] == "computer_use"
    props = fn["parameters"]["properties"]
    assert props["action"]["enum"] == [a.value for a in ActionType]
    assert set(props) == {"action", "keys", "text", "coordinate", "pixels", "time", "status"}
    assert props["status"]["enum"] == ["success", "failure"]
    assert fn["parameters"]["required"] == ["action"]
    for a in ActionType:
        assert f"`{a.value}`" in props["action"]["description"]
    assert "The screen's resolution is 1000x1000." in fn["description"]


def test_grid_is_a_template_variable() -> None:
    assert "resolution is 999x999." in computer_use_tool(999)["function"]["description"]
    assert "resolution is 1344x768." in computer_use_tool(1344, 768)["function"]["description"]
    prompt = computer_use_system_prompt(1344, 768)
    assert "1344x768" in prompt and "$" not in prompt.replace("$schema", "")
    start, end = prompt.index("<tools>\n") + len("<tools>\n"), prompt.index("\n</tools>")
    assert json.loads(prompt[start:end]) == computer_use_tool(1344, 768)
    assert '<tool_call>\n{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>' in prompt


def test_strict_schema_is_valid_and_has_one_branch_per_action() -> None:
    schema = action_arguments_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    consts = [b["properties"]["action"]["const"] for b in schema["anyOf"]]
    assert sorted(consts) == sorted(a.value for a in ActionType)
    for branch in schema["anyOf"]:
        assert branch["additionalProperties"] is False
        if branch["properties"]["action"]["const"] in {a.value for a in POINTER_ACTIONS}:
            assert "coordinate" in branch["required"]


@pytest.mark.parametrize(
    "args",
    [
        {"action": "left_click", "coordinate": [1000, 0]},
        {"action": "key", "keys": ["ctrl", "shift", "t"]},
        {"action": "type", "text": "Zürich"},
        {"action": "scroll", "pixels": -3, "coordinate": [5, 5]},
        {"action": "hscroll", "pixels": 3},
        {"action": "wait", "time": 2},
        {"action": "terminate", "status": "failure"},
        {"action": "answer", "text": "yes"},
    ],
)
def test_schema_accepts_what_the_parser_accepts(args: dict[str, object]) -> None:
    jsonschema.validate(args, action_arguments_schema())
    parse_arguments(args)


@pytest.mark.parametrize(
    "args",
    [
        {"action": "left_click"},
        {"action": "left_click", "coordinate": [1001, 0]},
        {"action": "left_click", "coordinate": [1, 2, 3]},
        {"action": "left_click", "coordinate": [1.5, 2]},
        {"action": "key", "text": "enter"},
        {"action": "key", "keys": ["hyper-ultra"]},
        {"action": "type", "text": ""},
        {"action": "terminate", "status": "done"},
        {"action": "click", "coordinate": [1, 2]},
    ],
)
def test_schema_refuses_what_cannot_run(args: dict[str, object]) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(args, action_arguments_schema())


def test_schema_limits_follow_the_grid() -> None:
    schema = action_arguments_schema(1344, 768)
    jsonschema.validate({"action": "left_click", "coordinate": [1344, 768]}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"action": "left_click", "coordinate": [1344, 769]}, schema)


def test_known_keys_cover_the_usual_names() -> None:
    keys = known_key_names()
    assert {"ctrl", "alt", "shift", "super", "cmd", "enter", "tab", "esc", "f5", "a", "0", "pagedown"} <= keys
    assert all(k == k.lower() for k in keys)


@pytest.mark.engine
@pytest.mark.parametrize("grid", [(1000, 1000), (1344, 768)])
def test_random_outputs_under_the_schema_always_parse(
    tmp_path: Path, grid: tuple[int, int], tiny_model_dir: Path
) -> None:
    """xgrammar (vLLM's structured-output backend) with random token choices: every output is an action."""
    schema_file = tmp_path / "schema.json"
    schema_file.write_text(json.dumps(action_arguments_schema(*grid)))
    proc = subprocess.run(
        [
            str(ENGINE_PYTHON),
            str(Path(__file__).with_name("xgrammar_walk.py")),
            str(tiny_model_dir),
            str(schema_file),
            "300",
            "7",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    outputs = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(outputs) == 300
    opts = ParseOptions.for_grid("absolute", image_size=grid, out_of_range="reject")
    seen = set()
    for text in outputs:
        try:
            actions = parse_response(text, opts).actions
        except ActionParseError as exc:  # pragma: no cover - the assertion message is the point
            pytest.fail(f"schema admitted an output the parser refuses: {text!r}: {exc}")
        assert len(actions) == 1 and isinstance(actions[0], Action)
        seen.add(actions[0].action)
    assert len(seen) >= 10  # the walk really explores the branches


def test_resources_load_without_the_source_tree() -> None:
    """importlib.resources finds the files from any working directory (no path relative to the repo)."""
    code = (
        "from qwen3vl_agent.resources_loader import computer_use_tool, action_arguments_schema;"
        "print(computer_use_tool()['function']['name'], len(action_arguments_schema()['anyOf']))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd="/")
    assert out.stdout.split() == ["computer_use", "14"]
