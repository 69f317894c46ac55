"""HashingEmbedder: offline text vectors by signed feature hashing; no model, no network.

Features are lowercase word unigrams and character 3-grams of each word, hashed with blake2b
(stable across processes, unlike ``hash()``), so the same text always gives the same vector.
Good enough to rank near-duplicates and shared vocabulary; it knows no synonyms.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from functools import lru_cache
from hashlib import blake2b

from codex32.plugins.api import Embedder, EmbeddingResult, Register, Usage, hookimpl

_WORD = re.compile(r"\w+", re.UNICODE)
_PERSON = b"codex32-hash-v1"  # changing it changes every vector: bump with the model name
WORD_WEIGHT = 1.0
TRIGRAM_WEIGHT = 0.5


@lru_cache(maxsize=1 << 16)
def _bucket(feature: str, dimension: int) -> tuple[int, float]:
    """(index, sign) of one feature: index from the low 32 bits, sign from the next bit."""
    digest = int.from_bytes(blake2b(feature.encode(), digest_size=8, person=_PERSON).digest(),
                            "little")
    return (digest & 0xFFFFFFFF) % dimension, 1.0 if (digest >> 32) & 1 else -1.0


def features(text: str) -> Counter[str]:
    """Feature counts of a text: ``w:word`` unigrams and ``c:abc`` 3-grams of ``<word>``."""
    counts: Counter[str] = Counter()
    for word in _WORD.findall(text.lower()):
        counts[f"w:{word}"] += 1
        padded = f"<{word}>"
        counts.update(f"c:{padded[i:i + 3]}" for i in range(len(padded) - 2))
    return counts


class HashingEmbedder(Embedder):
    """Signed feature hashing into a fixed dimension, L2-normalized. Deterministic, offline."""

    id = "hashing"
    title = "Hashing embedder (offline)"
    description = ("Feature hashing of words and character 3-grams: no model, no network. "
                   "Finds shared words and spellings, not meaning.")
    costs_nothing = True
    config_schema = {
        "type": "object",
        "properties": {"dimension": {"type": "integer", "minimum": 16, "maximum": 4096,
                                     "default": 256}},
        "additionalProperties": False,
    }
    capabilities = frozenset({"offline", "deterministic"})

    def __init__(self, config: dict | None = None, secrets: dict | None = None) -> None:
        super().__init__(config, secrets)
        dimension = self.config.get("dimension", 256)
        if isinstance(dimension, bool) or not isinstance(dimension, int) \
                or not 16 <= dimension <= 4096:
            raise ValueError("dimension must be an integer from 16 to 4096")
        self._dimension = dimension

    @property
    def dimension(self) -> int:
        """The length of every vector."""
        return self._dimension

    @property
    def model(self) -> str:
        """Names the vector space: vectors of different models must not be compared."""
        return f"hashing-v1-{self._dimension}"

    def embed(self, texts: list[str]) -> EmbeddingResult:
        """One unit vector per text; a text without words gives the zero vector."""
        return EmbeddingResult(vectors=[self._vector(t) for t in texts], model=self.model,
                               usage=Usage())

    def _vector(self, text: str) -> list[float]:
        vector = [0.0] * self._dimension
        for feature, count in features(text).items():
            index, sign = _bucket(feature, self._dimension)
            weight = WORD_WEIGHT if feature.startswith("w:") else TRIGRAM_WEIGHT
            # Sublinear term frequency: a repeated word should not drown the rest.
            vector[index] += sign * weight * (1.0 + math.log(count))
        norm = math.sqrt(sum(v * v for v in vector))
        return [v / norm for v in vector] if norm else vector


@hookimpl
def register_embedders(register: Register) -> None:
    """Provide :class:`HashingEmbedder` (id ``hashing``)."""
    register(HashingEmbedder)
