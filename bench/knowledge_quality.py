"""Search quality of the embedders on a small labelled set: recall@5 and MRR.

    python bench/knowledge_quality.py [--embedders hashing,minilm] [--set FILE.json]

Each passage and each question is embedded by the embedder plugin itself (the class the core
builds, default configuration); a question's passages are ranked by cosine similarity, as the
vector half of the knowledge base's search ranks them. recall@5: the share of questions whose
labelled passage is among the 5 nearest; MRR: the mean of 1/rank of that passage. The set is
``bench/knowledge_quality.json`` (30 passages, 30 questions, most of them paraphrases). An
embedder that is not installed (``minilm``: ``make install-minilm``) is reported and skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "platform"))

K = 5


def embedder(name: str) -> Any:
    """The embedder plugin ``name`` on its default configuration, or None if not installed."""
    if name == "hashing":
        from codex32.plugins.defaults.hashing_embedder import HashingEmbedder

        return HashingEmbedder({})
    if name == "minilm":
        try:
            from codex32_minilm import MiniLMEmbedder
        except ImportError:
            return None
        return MiniLMEmbedder({})
    raise SystemExit(f"unknown embedder {name!r}")


def ranks(plugin: Any, passages: dict[str, str], queries: list[list[str]]) -> list[int]:
    """The rank (1-based) of each question's labelled passage."""
    ids = list(passages)
    stored = plugin.embed([passages[i] for i in ids]).vectors
    asked = plugin.embed([question for question, _label in queries]).vectors
    found = []
    for vector, (_question, label) in zip(asked, queries, strict=True):
        scores = [sum(a * b for a, b in zip(vector, other, strict=True)) for other in stored]
        order = sorted(range(len(ids)), key=lambda i: -scores[i])
        found.append([ids[i] for i in order].index(label) + 1)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--embedders", default="hashing,minilm")
    parser.add_argument("--set", default=str(ROOT / "bench" / "knowledge_quality.json"))
    args = parser.parse_args(argv)
    labelled = json.loads(Path(args.set).read_text())
    passages, queries = labelled["passages"], labelled["queries"]
    print(f"{len(queries)} questions over {len(passages)} passages; load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for name in args.embedders.split(","):
        plugin = embedder(name)
        if plugin is None:
            print(f"{name:8} not installed: skipped")
            continue
        began = time.perf_counter()
        found = ranks(plugin, passages, queries)
        seconds = time.perf_counter() - began
        recall = sum(rank <= K for rank in found) / len(found)
        mrr = statistics.fmean(1 / rank for rank in found)
        print(f"{name:8} recall@{K} {recall:.3f}  MRR {mrr:.3f}  recall@1 "
              f"{sum(rank == 1 for rank in found) / len(found):.3f}  ({seconds:.1f} s, "
              f"model load included)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
