"""The load of bench/stream_bench.py, each part in a process of its own: a FakeOpenAI whose
streamed answers take a set time, and a client opening many streaming chats at once.

Both are targets of ``multiprocessing`` (spawn) and talk to the benchmark over a pipe; neither
measures anything but what each stream answered.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

API_KEY = "sk-bench-streams"


def serve_fake(interval: float, conn: Any) -> None:
    """A FakeOpenAI whose streamed events come ``interval`` seconds apart, until told to stop."""
    from codex32.testing.fake_openai import FakeOpenAI

    with FakeOpenAI(api_key=API_KEY) as fake:
        fake.stream_interval = interval
        conn.send(fake.url)
        conn.recv()


def run_streams(base: str, keys: list[str], streams: int, conn: Any) -> None:
    """Open ``streams`` chats at once (round-robin over the workspaces' ``keys``) when told to;
    send back one result per stream."""
    import openai

    async def one(client: openai.AsyncOpenAI, number: int) -> dict[str, Any]:
        message = f"stream number {number} of this benchmark"
        started, refused, first = time.perf_counter(), 0, None
        while True:
            try:
                text, usage = "", None
                stream = await client.chat.completions.create(
                    model="openai/gpt-4o-mini", stream=True, temperature=0.7,
                    stream_options={"include_usage": True},
                    messages=[{"role": "user", "content": message}])
                async for chunk in stream:
                    if chunk.choices:
                        text += chunk.choices[0].delta.content or ""
                        if text and first is None:
                            first = time.time()
                    usage = chunk.usage or usage
                break
            except openai.RateLimitError as exc:
                refused += 1
                await asyncio.sleep(float(exc.response.headers.get("retry-after") or 1))
            except Exception as exc:  # reported, not raised: the others go on
                return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:200],
                        "refused": refused}
        ok = text == f"echo: {message}" and usage is not None and usage.completion_tokens > 0
        return {"ok": ok, "error": None if ok else f"wrong answer {text!r} {usage}",
                "refused": refused, "seconds": time.perf_counter() - started, "first": first}

    async def main() -> list[dict[str, Any]]:
        clients = [openai.AsyncOpenAI(api_key=key, base_url=base + "/api/v1/openai",
                                      max_retries=0, timeout=300) for key in keys]
        conn.send("ready")
        conn.recv()
        try:
            return await asyncio.gather(*(one(clients[n % len(clients)], n)
                                          for n in range(streams)))
        finally:
            for client in clients:
                await client.close()

    conn.send(asyncio.run(main()))
