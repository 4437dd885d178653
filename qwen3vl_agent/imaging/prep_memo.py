"""Prepared images remembered by their source, so a repeat skips the decoder, the resize and the encoder.

Each chat turn sends the conversation's images again, and a repeated question comes with the same
screenshot: preparing it again costs ~25 ms of CPU for a 1080p screen (decode, resize, PNG), while
recognising it costs a hash of its encoded bytes (an attachment: well under a millisecond) or of its
pixels (an RGB screenshot: a few ms). So the memo is for callers that repeat (the chat, the bench's
repeat mix), not for the agent, whose every screenshot is new.

Only sources whose content fixes the result exactly are remembered: encoded bytes, and RGB images
(pixels, size and EXIF orientation). A path (its file can change) or an image in another mode (a
palette, transparency) is prepared as before, every time. Errors are never remembered.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass

from PIL import Image

from qwen3vl_agent.imaging.loading import DEFAULT_MAX_INPUT_PIXELS, EXIF_ORIENTATION, ImageSource
from qwen3vl_agent.imaging.prep import DEFAULT_QUALITY, Encoding, prepare_image
from qwen3vl_agent.inference.request import PreparedImage

DEFAULT_MAX_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class MemoStats:
    hits: int
    misses: int
    unkeyed: int  # sources prepared without the memo (paths, non-RGB images)
    entries: int
    bytes: int


def source_digest(source: ImageSource) -> str | None:
    """An exact key for what `source` decodes to, or None where there is no cheap exact one."""
    if isinstance(source, memoryview) and not source.c_contiguous:
        return None  # a strided view: hashing would need a copy first
    if isinstance(source, bytes | bytearray | memoryview):
        return "b:" + hashlib.sha1(source, usedforsecurity=False).hexdigest()
    if isinstance(source, Image.Image) and source.mode == "RGB":
        orientation = source.getexif().get(EXIF_ORIENTATION, 1)
        h = hashlib.sha1(f"RGB:{source.width}x{source.height}:{orientation}".encode(), usedforsecurity=False)
        h.update(source.tobytes())
        return "i:" + h.hexdigest()
    return None


class PreparedMemo:
    """A least-recently-used set of prepared images, bounded by their encoded bytes; thread-safe."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[tuple[object, ...], PreparedImage] = OrderedDict()
        self._bytes = 0
        self._hits = self._misses = self._unkeyed = 0
        self._lock = threading.Lock()

    def prepare(
        self,
        source: ImageSource,
        budget_tokens: int,
        encoding: Encoding = "png",
        *,
        want_phash: bool = False,
        quality: int = DEFAULT_QUALITY,
        max_input_pixels: int = DEFAULT_MAX_INPUT_PIXELS,
    ) -> PreparedImage:
        """`prepare_image` with the same arguments, answered from memory for a source seen before."""
        digest = source_digest(source)
        key: tuple[object, ...] | None = None
        if digest is not None:
            png = encoding == "png"  # PNG is lossless: the quality setting does not change it
            key = (digest, budget_tokens, encoding, None if png else quality, want_phash, max_input_pixels)
        with self._lock:
            if key is None:
                self._unkeyed += 1
            elif (found := self._entries.get(key)) is not None:
                self._entries.move_to_end(key)
                self._hits += 1
                return found
            else:
                self._misses += 1
        prepared = prepare_image(
            source, budget_tokens, encoding, want_phash=want_phash, quality=quality,
            max_input_pixels=max_input_pixels,
        )  # fmt: skip
        if key is not None:
            self._remember(key, prepared)
        return prepared

    def _remember(self, key: tuple[object, ...], prepared: PreparedImage) -> None:
        size = len(prepared.data)
        if size > self.max_bytes:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= len(old.data)
            self._entries[key] = prepared
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self._bytes -= len(evicted.data)

    def clear(self) -> None:
        """Forget every prepared image (the counters stay)."""
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def stats(self) -> MemoStats:
        with self._lock:
            return MemoStats(self._hits, self._misses, self._unkeyed, len(self._entries), self._bytes)
