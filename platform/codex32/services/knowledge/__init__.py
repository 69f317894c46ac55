"""The knowledge base: collections of documents and the workspace's bots, chunked, embedded
through the LLM gateway into the workspace's vector store, and searched by hybrid retrieval
(docs/knowledge.md).

Modules: :mod:`.parsing` (bytes to structured text), :mod:`.chunking` (token-aware chunks),
:mod:`.documents` (collections and documents), :mod:`.bot_passages` (bots as passages),
:mod:`.indexes` (index generations), :mod:`.vectors` (the store's calls), :mod:`.search`
(hybrid retrieval) and :mod:`.answers` (answers with citations). The knowledge jobs' steps,
which open a session per step like the run job, are :mod:`codex32.execution.indexing`.
"""
