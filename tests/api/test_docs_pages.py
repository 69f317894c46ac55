"""The API documentation pages work offline: every script and style they load is served here."""

from __future__ import annotations

import re

import pytest

PAGES = ("/api/docs", "/api/redoc")


def _references(html: str) -> list[str]:
    return re.findall(r'(?:src|href)\s*=\s*"([^"]+)"', html)


@pytest.mark.parametrize("page", PAGES)
def test_a_docs_page_references_only_local_urls(client, page):
    response = client.get(page)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    references = _references(html)
    assert references, html
    for url in references:
        assert url.startswith("/") and not url.startswith("//"), (page, url)


@pytest.mark.parametrize("page", PAGES)
def test_every_asset_of_a_docs_page_is_served(client, page):
    html = client.get(page).get_data(as_text=True)
    scripts = re.findall(r'<script[^>]*\ssrc="([^"]+)"', html)
    assert scripts, html
    for url in _references(html):
        asset = client.get(url)
        assert asset.status_code == 200, url
        if url in scripts:
            assert asset.mimetype in ("text/javascript", "application/javascript"), url
            assert len(asset.data) > 100_000, url  # the real bundle, not a stub
        elif url.endswith(".css"):
            assert asset.mimetype == "text/css", url
        assert asset.headers.get("Cache-Control"), url


def test_docs_assets_outside_the_bundles_are_404(client):
    for url in ("/api/docs/assets/../../../etc/passwd", "/api/docs/assets/%2e%2e/setup.py",
                "/api/redoc/assets/missing.js"):
        assert client.get(url).status_code == 404, url


def test_the_docs_pages_need_no_token(client):
    html = client.get("/api/docs").get_data(as_text=True)
    assert "/api/openapi.json" in html
    assert client.get("/api/openapi.json").status_code == 200


NUMERIC_KEYWORDS = {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength",
                    "maxLength", "minItems", "maxItems", "multipleOf"}


def test_the_openapi_documents_bounds_are_numbers(client):
    """A bound published as a string (a Decimal rendered to JSON) makes the schema invalid:
    client generators and the fuzzer cannot read the operation."""
    wrong = []

    def walk(node, path):
        if isinstance(node, dict):
            for key, value in node.items():
                if key in NUMERIC_KEYWORDS and (isinstance(value, bool)
                                                or not isinstance(value, int | float)):
                    wrong.append(f"{path}/{key}={value!r}")
                walk(value, f"{path}/{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{path}/{index}")

    walk(client.get("/api/openapi.json").get_json(), "")
    assert wrong == []
