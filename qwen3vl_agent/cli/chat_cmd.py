"""`qwen3vl-agent chat "question" [--image FILE]... [--screen [--monitor N]] [--json]`.

Images are loaded and prepared BEFORE the engine is touched, so a bad file fails at once with
a clear message and no engine start. The answer streams to stdout as it is generated; progress
of an engine start goes to stderr; `--json` prints one JSON object instead, for scripts.
"""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from qwen3vl_agent.errors import UserFacingError

if TYPE_CHECKING:
    from PIL import Image

    from qwen3vl_agent.config import Settings
    from qwen3vl_agent.engine.status import EngineStatus
    from qwen3vl_agent.inference.request import InferenceRequest, InferenceResult, PreparedImage


def _capture(monitor: int | None, settings: Settings) -> Image.Image:
    """The desktop (or monitor N, counted from 1) with the privacy masks applied."""
    try:
        from qwen3vl_agent.screen.capture import CaptureTarget, ScreenCapturer
    except ImportError as exc:
        raise UserFacingError("Screen capture is not available in this installation", str(exc)) from exc
    capturer = ScreenCapturer.from_settings(settings)
    try:
        target = CaptureTarget.desktop() if monitor is None else CaptureTarget.monitor(monitor)
        return capturer.capture(target).image
    finally:
        capturer.close()


def _prepare(
    images: tuple[Path, ...], screen: bool, monitor: int | None, settings: Settings
) -> list[PreparedImage]:
    from qwen3vl_agent.imaging.prep import prepare_image

    budget = settings.images.chat_budget_tokens
    kwargs: dict[str, Any] = {
        "quality": settings.images.jpeg_quality,
        "max_input_pixels": settings.images.max_input_pixels,
    }
    prepared = [prepare_image(path, budget, settings.images.encoding, **kwargs) for path in images]
    if screen:
        prepared.append(
            prepare_image(_capture(monitor, settings), budget, settings.images.encoding, **kwargs)
        )
    return prepared


def _request(
    question: str,
    images: list[PreparedImage],
    max_tokens: int,
    temperature: float | None,
    deadline: float | None,
    no_cache: bool,
) -> InferenceRequest:
    from dataclasses import replace

    from qwen3vl_agent.inference.request import (
        CachePolicy,
        ImagePart,
        InferenceRequest,
        Message,
        SamplingParams,
        TaskKind,
    )

    sampling = replace(SamplingParams(), max_tokens=max_tokens)
    if temperature is not None:
        sampling = (
            SamplingParams.greedy(max_tokens)
            if temperature == 0
            else replace(sampling, temperature=temperature)
        )
    return InferenceRequest(
        messages=[Message.user(*(ImagePart(img) for img in images), question)],
        kind=TaskKind.CHAT,
        sampling=sampling,
        deadline_s=deadline,
        cache=CachePolicy(use=False) if no_cache else CachePolicy(),
    )


def _progress(show: bool) -> Any:
    last: dict[str, str] = {"line": ""}

    def on_status(status: EngineStatus) -> None:
        line = status.describe()
        if show and line != last["line"]:
            last["line"] = line
            click.echo(f"\r\033[K{line[:150]}", err=True, nl=False)

    return on_status


async def _ask(
    settings: Settings, request: InferenceRequest, stream_out: bool, show_progress: bool
) -> tuple[InferenceResult, str]:
    from qwen3vl_agent.runtime import build_runtime

    progress = _progress(show_progress)
    try:
        runtime = await build_runtime(settings, progress=progress)
    finally:
        if show_progress:
            click.echo("\r\033[K", err=True, nl=False)
    try:

        def on_delta(delta: str) -> None:
            if stream_out:
                sys.stdout.write(delta)
                sys.stdout.flush()

        result = await runtime.service.submit(request, on_delta)
        return result, runtime.model_name
    finally:
        await runtime.close()


@click.command()
@click.argument("question")
@click.option(
    "--image", "images", multiple=True, type=click.Path(path_type=Path), help="An image file (repeatable)."
)
@click.option("--screen", is_flag=True, help="Attach a screenshot of the desktop.")
@click.option("--monitor", type=int, default=None, help="With --screen: only this monitor (1 = first).")
@click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON object (answer, usage, timings) for scripts."
)
@click.option("--max-tokens", type=click.IntRange(1, 32768), default=1024, show_default=True)
@click.option(
    "--temperature",
    type=click.FloatRange(0, 2),
    default=None,
    help="Sampling temperature (0 = deterministic, cached); default: the model card's 0.7.",
)
@click.option(
    "--timeout",
    "deadline",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Give up after this many seconds.",
)
@click.option("--no-cache", is_flag=True, help="Never answer from the result cache.")
def chat(
    question: str,
    images: tuple[Path, ...],
    screen: bool,
    monitor: int | None,
    as_json: bool,
    max_tokens: int,
    temperature: float | None,
    deadline: float | None,
    no_cache: bool,
) -> None:
    """Ask the model a question, optionally about images or the screen; the answer streams in."""
    from qwen3vl_agent.config import load_settings

    if monitor is not None and not screen:
        raise click.UsageError("--monitor needs --screen")
    if not question.strip():
        raise click.UsageError("the question is empty")
    settings = load_settings()
    limit = settings.engine.limit_mm_images
    if settings.engine.mode == "managed" and len(images) + int(screen) > limit:
        raise click.UsageError(
            f"{len(images) + int(screen)} images, but the engine takes at most {limit} per question"
            " (engine.limit_mm_images)"
        )
    prepared = _prepare(images, screen, monitor, settings)
    request = _request(question, prepared, max_tokens, temperature, deadline, no_cache)
    # engine errors (not installed, not running, too slow, ...) are UserFacingErrors: main prints them
    result, model = asyncio.run(_ask(settings, request, not as_json, sys.stderr.isatty() and not as_json))
    if as_json:
        click.echo(
            json.dumps(
                {
                    "answer": result.text,
                    "model": result.model or model,
                    "finish_reason": result.finish_reason,
                    "cached": result.cached,
                    "usage": asdict(result.usage),
                    "timings": asdict(result.timings),
                    "images": [
                        {
                            "width": i.width,
                            "height": i.height,
                            "visual_tokens": i.visual_tokens,
                            "source_width": i.source_width,
                            "source_height": i.source_height,
                        }
                        for i in prepared
                    ],
                },
                ensure_ascii=False,
                indent=2,
            )
        )
    else:
        click.echo("")
