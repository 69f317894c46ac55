"""Codex-32 core: multi-tenant platform for LLM-generated Python bots."""
__version__ = "0.1.0"
