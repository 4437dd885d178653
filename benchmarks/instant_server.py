"""An OpenAI-compatible endpoint that answers at once: the ceiling of the *client* side.

It reads the whole request (so the client pays for sending its image bytes), then streams
`--tokens` SSE chunks and a usage chunk, like vLLM's chat completions with
`stream_options.include_usage`. It does no inference. Used by `benchmarks/client_ceiling.py`
to find how many requests per second the app's own path (prep, queue, cache, httpx, SSE) can
push when the engine costs nothing; this is a measuring instrument, not a stand-in for vLLM in
any test.

    python benchmarks/instant_server.py --port 8011 --tokens 64
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os

MODELS = json.dumps({"object": "list", "data": [{"id": "instant", "object": "model"}]}).encode()


def _chunk(payload: dict) -> bytes:
    body = b"data: " + json.dumps(payload).encode() + b"\n\n"
    return f"{len(body):x}\r\n".encode() + body + b"\r\n"


async def _answer(writer: asyncio.StreamWriter, tokens: int, prompt_bytes: int) -> None:
    writer.write(
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n"
        b"connection: keep-alive\r\n\r\n"
    )
    base = {"id": "x", "object": "chat.completion.chunk", "model": "instant"}
    for i in range(tokens):
        finish = "length" if i == tokens - 1 else None
        choice = {"index": 0, "delta": {"content": f"w{i} "}, "finish_reason": finish}
        writer.write(_chunk({**base, "choices": [choice]}))
        if i % 8 == 7:
            await writer.drain()
    usage = {"prompt_tokens": prompt_bytes // 100, "completion_tokens": tokens, "total_tokens": 0}
    writer.write(_chunk({**base, "choices": [], "usage": usage}))
    done = b"data: [DONE]\n\n"
    writer.write(f"{len(done):x}\r\n".encode() + done + b"\r\n0\r\n\r\n")
    await writer.drain()


async def _serve_one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, tokens: int) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            length = 0
            for line in lines[1:]:
                if line.lower().startswith("content-length:"):
                    length = int(line.split(":", 1)[1])
            body = await reader.readexactly(length) if length else b""
            if path.endswith("/models"):
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                    + f"content-length: {len(MODELS)}\r\n\r\n".encode()
                    + MODELS
                )
                await writer.drain()
            elif method == "POST":
                await _answer(writer, tokens, len(body))
            else:
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")
                await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8011)
    parser.add_argument("--tokens", type=int, default=64)
    args = parser.parse_args()
    server = await asyncio.start_server(
        lambda r, w: _serve_one(r, w, args.tokens), "127.0.0.1", args.port, limit=64 * 1024 * 1024
    )
    print(f"ready pid={os.getpid()} port={args.port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
