"""The configuration a workspace may save: every value bounded, as the OpenAI plugin's."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from codex32_anthropic import AnthropicProvider

PRICE = {"input": 1, "output": 2}


def _texts(schema: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    """Every string a schema takes, with where."""
    found = [(path, schema)] if schema.get("type") == "string" else []
    for name, sub in (schema.get("properties") or {}).items():
        found += _texts(sub, f"{path}.{name}")
    for key in ("additionalProperties", "propertyNames", "items"):
        if isinstance(schema.get(key), dict):
            found += _texts(schema[key], f"{path}[{key}]")
    return found


def test_every_text_and_map_in_the_schema_is_bounded():
    # "model" took a string of any length (the request's 1 MB cap was its only bound).
    texts = _texts(AnthropicProvider.config_schema)
    assert {path for path, _ in texts} >= {".model", ".base_url"}
    assert [path for path, sub in texts if "maxLength" not in sub] == []
    prices = AnthropicProvider.config_schema["properties"]["prices"]
    assert "maxProperties" in prices and "propertyNames" in prices


@pytest.mark.parametrize("config", [
    {"model": "m" * 201},
    {"base_url": "https://llm.example.com/" + "v" * 2048},
    {"prices": {"m" * 201: PRICE}},
    {"prices": {f"model-{n}": PRICE for n in range(501)}},
])
def test_a_value_beyond_its_bound_is_refused(config):
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(config, AnthropicProvider.config_schema)


def test_values_within_the_bounds_are_taken():
    jsonschema.validate({"model": "m" * 200, "prices": {f"model-{n}": PRICE for n in range(500)}},
                        AnthropicProvider.config_schema)
