"""OpenAI's embeddings as the fake answers them: deterministic unit vectors per text, as
floats or base64 (little-endian float32), at each model's native dimension."""

from __future__ import annotations

import base64
import hashlib
import math
import random
import struct
from collections.abc import Callable

from codex32.testing.fake_answers import approx_tokens
from codex32.testing.fake_server import JSONValue, ScriptedResponse

EMBEDDING_DIMENSIONS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}
"""Native dimension per embedding model; other model names get 1536."""


def fake_embedding(text: str, dimensions: int) -> list[float]:
    """A deterministic unit vector for ``text``: equal texts give equal vectors."""
    rng = random.Random(hashlib.sha256(text.encode()).digest())
    vector = [rng.gauss(0.0, 1.0) for _ in range(dimensions)]
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    # Round-trip through float32 so float and base64 answers carry identical values.
    return list(struct.unpack(f"<{dimensions}f", struct.pack(f"<{dimensions}f",
                                                             *(x / norm for x in vector))))


def encode_base64_floats(vector: list[float]) -> str:
    """``vector`` as the API's base64 encoding: little-endian float32, base64 text."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


def embeddings_response(body: JSONValue,
                        error: Callable[[int, str], ScriptedResponse]) -> ScriptedResponse:
    """The answer to ``POST /v1/embeddings`` with ``body``: deterministic vectors for each
    input, as floats or base64 per ``encoding_format`` (``error`` shapes a refusal)."""
    if not isinstance(body, dict) or "input" not in body or not body.get("model"):
        return error(400, "'input' and 'model' are required properties.")
    inputs = body["input"]
    if isinstance(inputs, str) or (isinstance(inputs, list) and inputs
                                   and isinstance(inputs[0], int)):
        inputs = [inputs]
    if not isinstance(inputs, list) or not inputs or any(i in ("", []) for i in inputs):
        return error(400, "'$.input' is invalid. Please check the API reference.")
    texts = [i if isinstance(i, str) else " ".join(map(str, i)) for i in inputs]
    model = body["model"]
    dimensions = body.get("dimensions") or EMBEDDING_DIMENSIONS.get(model, 1536)
    if not isinstance(dimensions, int) or dimensions < 1:
        return error(400, "Invalid value for 'dimensions'.")
    encoding = body.get("encoding_format", "float")
    if encoding not in ("float", "base64"):
        return error(400, f"Invalid value for 'encoding_format': {encoding!r}.")
    data = []
    for index, text in enumerate(texts):
        vector = fake_embedding(text, dimensions)
        data.append({"object": "embedding", "index": index,
                     "embedding": encode_base64_floats(vector) if encoding == "base64"
                     else vector})
    tokens = sum(approx_tokens(t) for t in texts)
    return ScriptedResponse(json={"object": "list", "data": data, "model": model,
                                  "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})
