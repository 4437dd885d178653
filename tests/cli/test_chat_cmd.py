"""`qwen3vl-agent chat`: bad input and a missing engine give one clear line; with the tiny engine
the answer streams and `--json` reports it."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from qwen3vl_agent.cli.main import cli


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def use_endpoint(
    monkeypatch: pytest.MonkeyPatch, url: str, api_key: str | None = None, model: str | None = None
) -> None:
    endpoint = {
        "url": url,
        **({"api_key": api_key} if api_key else {}),
        **({"model": model} if model else {}),
    }
    monkeypatch.setenv("QWEN3VL_AGENT_ENGINE__MODE", "endpoints")
    monkeypatch.setenv("QWEN3VL_AGENT_ENGINE__ENDPOINTS", json.dumps([endpoint]))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        (b"not an image at all", "is not an image"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "is not an image"),
    ],
)
def test_bad_image_is_one_clear_line_and_no_engine_is_touched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: bytes, message: str
) -> None:
    use_endpoint(monkeypatch, f"http://127.0.0.1:{free_port()}/v1", model="m")  # nothing listens there
    path = tmp_path / "photo.png"
    path.write_bytes(content)
    result = CliRunner().invoke(cli, ["chat", "what is this?", "--image", str(path)])
    assert result.exit_code == 2
    assert f"error: The file {path}" in result.output and message in result.output
    assert "Traceback" not in result.output and "reachable" not in result.output


def test_missing_image_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["chat", "q", "--image", str(tmp_path / "nope.jpg")])
    assert result.exit_code == 2 and "does not exist" in result.output


def test_engine_not_running_is_a_clear_message(monkeypatch: pytest.MonkeyPatch) -> None:
    use_endpoint(monkeypatch, f"http://127.0.0.1:{free_port()}/v1", model="m")
    result = CliRunner().invoke(cli, ["chat", "hello", "--max-tokens", "4"])
    assert result.exit_code == 2
    assert "error: No inference engine is reachable" in result.output
    assert "Traceback" not in result.output


def test_vllm_not_installed_is_a_clear_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QWEN3VL_AGENT_ENGINE__VLLM_EXECUTABLE", "/nonexistent/bin/vllm")
    result = CliRunner().invoke(cli, ["chat", "hello"])
    assert result.exit_code == 2 and "vLLM is not installed" in result.output


def test_usage_errors() -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["chat", "q", "--monitor", "1"]).exit_code == 2
    assert runner.invoke(cli, ["chat", "   "]).exit_code == 2


@pytest.mark.engine
def test_chat_streams_and_json_with_the_tiny_engine(
    tiny_engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    use_endpoint(monkeypatch, tiny_engine.base_url, tiny_engine.api_key)  # model asked from /v1/models
    image = tmp_path / "shot.png"
    Image.new("RGB", (1920, 1080), (200, 220, 240)).save(image)
    runner = CliRunner()
    args = [
        "chat",
        "What is on the screen?",
        "--image",
        str(image),
        "--max-tokens",
        "6",
        "--temperature",
        "0",
    ]
    plain = runner.invoke(cli, args)
    assert plain.exit_code == 0, plain.output
    assert plain.output.strip()

    result = runner.invoke(cli, [*args, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["model"] == tiny_engine.served_model_name
    assert data["answer"] == plain.output.rstrip("\n")
    assert data["cached"] == "l2"  # the first run stored it; this process found it on disk
    assert (
        data["images"]
        == [
            {"width": 1344, "height": 768, "visual_tokens": 1008, "source_width": 1920, "source_height": 1080}
        ]
        or data["images"][0]["visual_tokens"] <= 1280
    )


def test_screen_without_a_display_is_a_clear_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    result = CliRunner().invoke(cli, ["chat", "what is on screen?", "--screen"])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: ") and "Traceback" not in result.output


@pytest.mark.engine
@pytest.mark.xvfb
def test_chat_about_one_monitor_with_the_tiny_engine(
    tiny_engine, xvfb, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    use_endpoint(monkeypatch, tiny_engine.base_url, tiny_engine.api_key, tiny_engine.served_model_name)
    result = CliRunner().invoke(
        cli, ["chat", "What is here?", "--screen", "--monitor", "2", "--max-tokens", "4", "--json"]
    )
    assert result.exit_code == 0, result.output
    image = json.loads(result.output)["images"][0]
    assert (image["source_width"], image["source_height"]) == (1280, 1024)  # monitor 2 of the test display
    assert image["visual_tokens"] <= 1280


def test_more_images_than_the_engine_takes_is_refused_before_starting_it(tmp_path: Path) -> None:
    paths = []
    for i in range(5):  # the default limit is 4 images per prompt
        path = tmp_path / f"{i}.png"
        Image.new("RGB", (64, 64)).save(path)
        paths += ["--image", str(path)]
    result = CliRunner().invoke(cli, ["chat", "compare these", *paths])
    assert result.exit_code == 2 and "at most 4 per question" in result.output
