"""Turn a `Screenshot` into what the model sees, keeping the way back to the screen exact.

The model sees a resized, encoded copy (a visual-token budget), but its coordinates are a
fraction of that image, so they are mapped through the CAPTURE geometry of the screenshot that
was sent, never through the resized size. In absolute mode (Qwen2.5-VL style) the resized
size is the model's grid, and is kept here for that reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from qwen3vl_agent.actions.model import Action, ResolvedAction
from qwen3vl_agent.actions.parser import ParseOptions
from qwen3vl_agent.imaging.prep import Encoding, prepare_image
from qwen3vl_agent.inference.request import PreparedImage
from qwen3vl_agent.screen.capture import Screenshot
from qwen3vl_agent.screen.coordinates import CoordinateMode, CoordinateSpace, resolve_action
from qwen3vl_agent.screen.geometry import CaptureGeometry


@dataclass(frozen=True)
class ModelInput:
    """A screenshot ready for an `InferenceRequest`, with what is needed to act on the answer."""

    image: PreparedImage
    geometry: CaptureGeometry
    space: CoordinateSpace

    @property
    def grid(self) -> tuple[int, int]:
        """The 'screen resolution' to tell the model (1000x1000, or the resized size)."""
        ex, ey = self.space.extent
        return (int(ex), int(ey))

    def parse_options(
        self, out_of_range: Literal["clamp", "reject"] = "clamp", clamp_margin: float = 0.05
    ) -> ParseOptions:
        """Parser options for this input's grid."""
        ex, ey = self.space.extent
        return ParseOptions(ex, ey, out_of_range, clamp_margin)

    def resolve(self, action: Action) -> ResolvedAction:
        """Device points for an action the model wrote about this image."""
        return resolve_action(action, self.geometry, self.space)


def screenshot_to_model_input(
    shot: Screenshot,
    budget_tokens: int,
    encoding: Encoding = "png",
    *,
    coordinate_mode: CoordinateMode = "relative",
    coordinate_scale: int = 1000,
    quality: int = 90,
) -> ModelInput:
    """Resize to the visual-token budget and encode (the pixels are already masked)."""
    prepared = prepare_image(shot.image, budget_tokens, encoding, quality=quality)
    space = CoordinateSpace.from_settings(
        coordinate_mode, coordinate_scale, (prepared.width, prepared.height)
    )
    return ModelInput(image=prepared, geometry=shot.geometry, space=space)
