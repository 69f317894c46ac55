"""The knowledge base: collections of documents and the workspace's bots, chunked, embedded
through the LLM gateway into the workspace's vector store, and searched by hybrid retrieval
(docs/knowledge.md).

Modules: :mod:`.parsing` (bytes to structured text), :mod:`.chunking` (token-aware chunks),
:mod:`.documents` (collections and documents), :mod:`.bot_passages` (bots as passages),
:mod:`.indexes` (index generations), :mod:`.vectors` (the store's calls), :mod:`.indexing`
(what the knowledge jobs run) and :mod:`.search` (hybrid retrieval).
"""
