"""Aliases are checked when saved: each target an installed provider of the alias's kind,
never another alias, chains of 1 to 10; a refusal is a 422 naming the alias and the target
and leaves the saved settings as they were."""

from __future__ import annotations

import pytest

from tests.conftest import sign_up


@pytest.fixture(scope="module")
def admin(app):
    """One workspace for the module: a refused save changes nothing, so they can share it."""
    return sign_up(app.test_client())


def save_llm(tenant, llm: dict):
    return tenant.call("PATCH", "/api/v1/workspace", json={"settings": {"llm": llm}})


@pytest.mark.parametrize(("llm", "alias", "names"), [
    ({"aliases": {"fast": ["openai/gpt-4o-mini", "nosuch/model-x"]}}, "fast",
     "no language model provider 'nosuch' is installed"),
    ({"aliases": {"smart": ["hashing"]}}, "smart", "'hashing' is not a language model provider"),
    ({"aliases": {"fast": ["openai/gpt-4o-mini"], "loop": ["fast"]}}, "loop",
     "an alias may not name another alias"),
    ({"embedding_aliases": {"vec": ["builtin"]}}, "vec", "'builtin' is not an embedder"),
    ({"embedding_aliases": {"vec": ["nosuch/e5"]}}, "vec", "no embedder 'nosuch' is installed"),
    ({"embedding_aliases": {"vec": ["openai/a", "openai/b"]}}, "vec",
     "names each embedder once"),
])
def test_an_alias_with_a_bad_target_is_refused_naming_both(admin, llm, alias, names):
    before = admin.call("GET", "/api/v1/workspace").json["settings"]
    response = save_llm(admin, llm)

    assert response.status_code == 422, response.json
    assert alias in response.json["message"] and names in response.json["message"]
    key = next(iter(llm))
    assert names in " ".join(response.json["errors"]["json"]["settings"]["llm"][key][alias])
    assert admin.call("GET", "/api/v1/workspace").json["settings"] == before


@pytest.mark.parametrize("chain", [[], [f"openai/m{i}" for i in range(11)]])
def test_an_empty_or_too_long_chain_is_refused(admin, chain):
    for key in ("aliases", "embedding_aliases"):
        response = save_llm(admin, {key: {"mine": chain}})
        assert response.status_code == 422, response.json
        assert "mine" in response.json["errors"]["json"]["settings"]["llm"][key]


def test_valid_aliases_of_both_kinds_are_saved(admin):
    llm = {"aliases": {"fast": ["openai/gpt-4o-mini", "anthropic/claude-haiku-4-5", "builtin"]},
           "embedding_aliases": {"default": ["openai/text-embedding-3-small", "hashing"]}}
    response = save_llm(admin, llm)
    assert response.status_code == 200, response.json
    assert response.json["settings"]["llm"] == llm
