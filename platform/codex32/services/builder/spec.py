"""The bot specification: what the builder's conversation settles before code is generated.

One JSON Schema (:data:`SPEC_SCHEMA`, published in OpenAPI) for every source of a
specification: the user's answers, a model's structured output and the built-in heuristics.
Nothing reaches a user or the generator unless :func:`errors` finds nothing wrong with it.
No Flask, no database here.
"""

from __future__ import annotations

import copy
from typing import Any

from jsonschema import Draft202012Validator

TRIGGERS = ("manual", "schedule", "webhook")
OUTPUT_KINDS = ("return", "webhook", "email", "slack", "notification", "log")
SOURCE_KINDS = ("http", "rss", "csv", "api", "database", "file", "webhook_payload", "other")

_TEXT = {"type": "string", "maxLength": 2000}
_NAME = {"type": "string", "minLength": 1, "maxLength": 200}

SPEC_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "BotSpecification",
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "purpose", "trigger"],
    "properties": {
        "name": _NAME,
        "purpose": _TEXT,
        "trigger": {
            "type": "object", "additionalProperties": False, "required": ["type"],
            "properties": {
                "type": {"enum": list(TRIGGERS)},
                "cron": {"type": ["string", "null"], "maxLength": 200},
                "timezone": {"type": "string", "maxLength": 64},
            },
        },
        "inputs": {"type": "array", "maxItems": 50, "items": {
            "type": "object", "additionalProperties": False, "required": ["name"],
            "properties": {
                "name": {"type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"},
                "type": {"enum": ["string", "integer", "number", "boolean", "object", "array"]},
                "description": _TEXT, "required": {"type": "boolean"}, "default": {},
            }}},
        "data_sources": {"type": "array", "maxItems": 50, "items": {
            "type": "object", "additionalProperties": False, "required": ["kind"],
            "properties": {"kind": {"enum": list(SOURCE_KINDS)},
                           "location": {"type": "string", "maxLength": 2000},
                           "description": _TEXT}}},
        "steps": {"type": "array", "maxItems": 50, "items": _TEXT},
        "outputs": {"type": "array", "maxItems": 50, "items": {
            "type": "object", "additionalProperties": False, "required": ["kind"],
            "properties": {"kind": {"enum": list(OUTPUT_KINDS)},
                           "target": {"type": "string", "maxLength": 2000},
                           "description": _TEXT}}},
        "error_handling": {
            "type": "object", "additionalProperties": False,
            "properties": {"retries": {"type": "integer", "minimum": 0, "maximum": 10},
                           "backoff_seconds": {"type": "number", "minimum": 0, "maximum": 3600},
                           "on_failure": _TEXT}},
        "limits": {
            "type": "object", "additionalProperties": False,
            "properties": {"timeout_seconds": {"type": "integer", "minimum": 1,
                                               "maximum": 86400},
                           "memory_mb": {"type": "integer", "minimum": 16, "maximum": 65536}}},
        "integrations": {"type": "array", "maxItems": 50,
                         "items": {"type": "string", "maxLength": 200}},
        "secrets": {"type": "array", "maxItems": 50, "items": {
            "type": "string", "pattern": r"^[A-Z][A-Z0-9_]{0,127}$"}},
        "network": {
            "type": "object", "additionalProperties": False,
            "properties": {"needed": {"type": "boolean"},
                           "hosts": {"type": "array", "maxItems": 50,
                                     "items": {"type": "string", "maxLength": 253}}}},
        "requirements": {"type": "array", "maxItems": 50,
                         "items": {"type": "string", "maxLength": 200}},
        "template": {"type": ["string", "null"], "maxLength": 100},
        "parameters": {"type": "object"},
    },
}

_VALIDATOR = Draft202012Validator(SPEC_SCHEMA)

EMPTY: dict[str, Any] = {"name": "new-bot", "purpose": "", "trigger": {"type": "manual"}}


def errors(spec: Any) -> list[str]:
    """Every way ``spec`` breaks the schema, as ``path: message`` lines (empty when valid)."""
    found = []
    for error in sorted(_VALIDATOR.iter_errors(spec), key=lambda e: list(e.absolute_path)):
        path = "/".join(str(part) for part in error.absolute_path) or "(root)"
        found.append(f"{path}: {error.message}")
    return found


def empty() -> dict[str, Any]:
    """A new conversation's specification (valid, and saying nothing yet)."""
    return copy.deepcopy(EMPTY)
