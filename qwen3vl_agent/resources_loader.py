"""Load the prompt and schema files shipped under `qwen3vl_agent/resources/`.

Prompts and tool schemas are data, not code: they are read with importlib.resources (so they
work from a wheel or a frozen bundle) and filled with `string.Template` variables.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from importlib import resources
from string import Template
from typing import Any

COMPUTER_USE = "computer_use"


def read_text(*parts: str) -> str:
    """The text of a resource file, e.g. `read_text("computer_use", "system_prompt.txt")`."""
    node = resources.files("qwen3vl_agent").joinpath("resources")
    for part in parts:
        node = node.joinpath(part)
    return node.read_text(encoding="utf-8")


@cache
def _json(*parts: str) -> Any:
    return json.loads(read_text(*parts))


def computer_use_tool(width: int = 1000, height: int | None = None) -> dict[str, Any]:
    """The `computer_use` function tool (OpenAI `tools=[...]` entry) for a `width`x`height` grid.

    Relative mode uses 1000x1000 (or 999); absolute mode passes the resized image's size.
    """
    raw = read_text(COMPUTER_USE, "tool.json")
    filled = Template(raw).substitute(width=width, height=width if height is None else height)
    tool: dict[str, Any] = json.loads(filled)
    return tool


def computer_use_system_prompt(width: int = 1000, height: int | None = None) -> str:
    """The agent's system prompt, with the tool's signature and the screen grid filled in."""
    h = width if height is None else height
    tool = computer_use_tool(width, h)
    return Template(read_text(COMPUTER_USE, "system_prompt.txt")).substitute(
        tools=json.dumps(tool, ensure_ascii=False), width=width, height=h
    )


def action_arguments_schema(max_x: int = 1000, max_y: int | None = None) -> dict[str, Any]:
    """Strict JSON schema of one call's arguments, for structured output.

    Coordinates are integers in [0, max_x] x [0, max_y]; every admitted value is an action the
    parser accepts and the executor can run (known key names, bounded text and numbers).
    """
    schema: dict[str, Any] = copy.deepcopy(_json(COMPUTER_USE, "arguments.schema.json"))
    limits = (max_x, max_x if max_y is None else max_y)
    for branch in schema["anyOf"]:
        coord = branch["properties"].get("coordinate")
        if coord is not None:
            # one schema per axis, so non-square grids (absolute mode) are exact
            coord["prefixItems"] = [
                {"type": "integer", "minimum": 0, "maximum": limits[0]},
                {"type": "integer", "minimum": 0, "maximum": limits[1]},
            ]
            coord["items"] = False
    return schema


def known_key_names() -> frozenset[str]:
    """Key names the strict schema admits (the executor's key map must cover all of them)."""
    schema = _json(COMPUTER_USE, "arguments.schema.json")
    for branch in schema["anyOf"]:
        if branch["properties"]["action"]["const"] == "key":
            return frozenset(branch["properties"]["keys"]["items"]["enum"])
    raise LookupError("arguments.schema.json has no `key` branch")
