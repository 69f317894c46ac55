"""Bot code is checked when it is stored: it compiles and defines ``main(event, context)``.

Code that would only fail when run is refused at create, at a new version and at a code
update (422 with the line), and nothing is stored.
"""

from __future__ import annotations

import pytest

REFUSED = {
    "no main at all": ("x = 1\n", "define a function main(event, context)", None),
    "main takes one argument": ("import json\n\ndef main(event):\n    return event\n",
                                "main(event) takes 1 positional argument", 3),
    "main takes none": ("def main():\n    return 1\n", "takes 0 positional arguments", 1),
    "main needs a third argument": ("def main(event, context, extra):\n    return 1\n",
                                    "requires 3 positional arguments", 1),
    "main needs a keyword-only argument": ("def main(event, context, *, flag):\n    pass\n",
                                           "keyword-only argument 'flag'", 1),
    "main is async": ("async def main(event, context):\n    return 1\n", "async", 1),
    "main is not a function": ("main = 42\n", "define a function main(event, context)", None),
    "main only inside a class": ("class Bot:\n    def main(self, event, context):\n"
                                 "        return 1\n", "define a function main", None),
    "main is redefined without arguments": (
        "def main(event, context):\n    return 1\n\n\ndef main():\n    return 2\n",
        "takes 0 positional arguments", 5),
}

ACCEPTED = {
    "the contract": "def main(event, context):\n    return 1\n",
    "annotated with defaults": "def main(event: dict, context=None, *, verbose=False) -> dict:"
                               "\n    return {}\n",
    "varargs": "def main(*args, **kwargs):\n    return len(args)\n",
    "positional-only": "def main(event, context, /):\n    return 1\n",
    "decorated": "import functools\n\n\n@functools.lru_cache\ndef main(event, context):\n"
                 "    return 1\n",
    "defined under a guard": "try:\n    import json\nexcept ImportError:\n    json = None\n\n"
                             "if True:\n    def main(event, context):\n        return 1\n",
}


def _assert_refused(response, fragment: str, line: int | None) -> None:
    assert response.status_code == 422, response.json
    body = response.json
    assert body["code"] == 422
    detail = body["errors"]["json"]["code"][0]
    assert fragment in detail and fragment in body["message"], body
    if line is not None:
        assert detail.startswith(f"line {line}:"), body


@pytest.mark.parametrize("case", list(REFUSED))
def test_code_without_a_callable_main_is_refused_at_create(tenant, case):
    code, fragment, line = REFUSED[case]
    _assert_refused(tenant.call("POST", "/api/v1/bots", json={"name": "no-main", "code": code}),
                    fragment, line)
    assert tenant.call("GET", "/api/v1/bots?q=no-main").json["total"] == 0


@pytest.mark.parametrize("case", list(REFUSED))
def test_code_without_a_callable_main_is_refused_as_a_new_version(tenant, case):
    code, fragment, line = REFUSED[case]
    bot = tenant.create_bot()
    _assert_refused(tenant.call("POST", f"/api/v1/bots/{bot['id']}/versions",
                                json={"code": code}), fragment, line)
    _assert_refused(tenant.call("PATCH", f"/api/v1/bots/{bot['id']}", json={"code": code}),
                    fragment, line)
    assert tenant.call("GET", f"/api/v1/bots/{bot['id']}").json["current_version"] == 1


@pytest.mark.parametrize("case", list(ACCEPTED))
def test_code_whose_main_takes_event_and_context_is_accepted(tenant, case):
    bot = tenant.create_bot(code=ACCEPTED[case])
    assert bot["current_version"] == 1


def test_a_syntax_error_names_its_line_and_column(tenant):
    response = tenant.call("POST", "/api/v1/bots", json={
        "name": "typo", "code": "def main(event, context):\n    return (1 +\n"})
    assert response.status_code == 422
    detail = response.json["errors"]["json"]["code"][0]
    assert detail.startswith("line 2, column ") and "never closed" in detail, detail


def test_the_code_size_limit_still_applies(tenant):
    code = "def main(event, context):\n    return 1\n" + "#" * (256 * 1024)
    response = tenant.call("POST", "/api/v1/bots", json={"name": "huge", "code": code})
    assert response.status_code == 422
    assert "bytes" in response.json["errors"]["json"]["code"][0]
