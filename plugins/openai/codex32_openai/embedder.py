"""OpenAIEmbedder: embeddings from OpenAI or any OpenAI-compatible server.

Asks for base64 by default (half the bytes of JSON floats) and decodes it here, so the result does
not depend on how a given SDK version post-processes the answer. Every vector is checked against
the configured dimension before it leaves.
"""

from __future__ import annotations

import base64
import binascii
import struct
from typing import Any, ClassVar

from codex32.plugins.api import Embedder, EmbeddingResult, ProviderError, Usage
from codex32_openai.connection import CONNECTION_PROPERTIES, MAX_NAME, OpenAIConnection


class OpenAIEmbedder(OpenAIConnection, Embedder):
    """Text embeddings through the official ``openai`` SDK (``embeddings.create``)."""

    id = "openai"
    title = "OpenAI embeddings"
    description = ("OpenAI embedding models, or any OpenAI-compatible /v1/embeddings endpoint "
                   "through base_url.")
    secrets = ("api_key",)
    config_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {
            **CONNECTION_PROPERTIES,
            "model": {"type": "string", "minLength": 1, "maxLength": MAX_NAME,
                      "default": "text-embedding-3-small"},
            "dimensions": {"type": "integer", "minimum": 1, "maximum": 16384, "default": 1536,
                           "description": "Length of every vector; must match the model's "
                                          "output (or what it shortens to)."},
            "send_dimensions": {
                "type": "boolean", "default": True,
                "description": "Ask the server for `dimensions` (text-embedding-3 models "
                               "shorten vectors); turn off for models that refuse it."},
            "encoding_format": {"enum": ["base64", "float"], "default": "base64",
                                "description": "Wire format of the vectors."},
            "batch_size": {"type": "integer", "minimum": 1, "maximum": 2048, "default": 256,
                           "description": "Texts per request."},
        },
        "additionalProperties": False,
    }

    @property
    def dimension(self) -> int:
        """The configured vector length."""
        return int(self.config["dimensions"])

    def embed(self, texts: list[str]) -> EmbeddingResult:
        """One vector per text, in order, in as many requests as ``batch_size`` requires."""
        model = self.config["model"]
        vectors: list[list[float]] = []
        input_tokens = 0
        size = int(self.config["batch_size"])
        for start in range(0, len(texts), size):
            batch, answered_by, tokens = self._embed_batch(texts[start:start + size])
            vectors += batch
            model, input_tokens = answered_by or model, input_tokens + tokens
        return EmbeddingResult(vectors=vectors, model=model,
                               usage=Usage(input_tokens=input_tokens))

    def _embed_batch(self, texts: list[str]) -> tuple[list[list[float]], str, int]:
        encoding = self.config["encoding_format"]
        options: dict[str, Any] = {}
        if self.config["send_dimensions"]:
            options["dimensions"] = self.dimension
        # The API rejects empty strings; a lone space embeds "nothing" without failing the batch.
        inputs = [text if text else " " for text in texts]
        with self.translated_errors():
            response = self.client.embeddings.create(
                input=inputs, model=self.config["model"], encoding_format=encoding,
                timeout=float(self.config["timeout"]), **options)
        data = sorted(response.data, key=lambda item: item.index)
        if len(data) != len(texts):
            raise ProviderError(f"OpenAI returned {len(data)} embeddings for {len(texts)} texts")
        vectors = [decode_vector(item.embedding) for item in data]
        for vector in vectors:
            if len(vector) != self.dimension:
                raise ProviderError(
                    f"OpenAI returned {len(vector)}-dimensional vectors, configured "
                    f"dimensions is {self.dimension}: set it to the model's output size")
        usage = response.usage
        tokens = (usage.prompt_tokens or 0) if usage is not None else 0
        return vectors, response.model, tokens


def decode_vector(embedding: Any) -> list[float]:
    """A vector from the wire: a list of floats, or base64 of little-endian float32."""
    if isinstance(embedding, str):
        try:
            raw = base64.b64decode(embedding, validate=True)
        except binascii.Error:
            raise ProviderError("OpenAI returned an embedding that is not base64") from None
        if len(raw) % 4:
            raise ProviderError("OpenAI returned a base64 embedding of a partial float32")
        return list(struct.unpack(f"<{len(raw) // 4}f", raw))
    return [float(x) for x in embedding]
