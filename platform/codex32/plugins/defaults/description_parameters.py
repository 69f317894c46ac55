"""What the built-in heuristics read from a bot description for each template.

Per template in the catalogue, a reader finds the template's parameters in the description
and asks a question for each required one it cannot find. Keyword rules, no model, no network;
BuiltinLLM (builtin_llm.py) is the only user.
"""

from __future__ import annotations

import re
from typing import Any

from codex32.plugins.defaults.template_catalogue import CATALOGUE

# Words that say nothing about the bot: left out of bot names (builtin_llm) and column names.
STOPWORDS = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "by", "can", "do", "every", "for", "from", "i",
    "if", "in", "into", "is", "it", "its", "me", "my", "of", "on", "or", "please", "that", "the",
    "then", "this", "to", "us", "when", "which", "will", "with", "would", "you", "your", "should",
    "could", "bot", "want", "need", "make", "create", "build", "write",
})
# Words after "by"/"per"/"sum of" that are not column names.
_NOT_COLUMNS = STOPWORDS | frozenset({
    "per", "by", "all", "each", "email", "e-mail", "mail", "slack", "end", "day", "week", "month",
    "hour", "minute", "default",
})


def parameters_for(template: str | None, text: str, lower: str, sources: list[str],
                   destinations: list[str]) -> tuple[dict[str, Any], list[str]]:
    """Template parameters found in the text, and a question for each required one missing."""
    params: dict[str, Any] = {}
    questions: list[str] = []
    reader = _PARAMETER_READERS.get(template) if template else None
    if reader is not None:
        reader(_Said(text, lower, sources, destinations), params, questions)
    elif template in CATALOGUE:  # no reader yet: ask for each required parameter
        schema = CATALOGUE[template].template.parameters
        for name in schema["required"]:
            meaning = schema["properties"][name].get("description")
            questions.append(f"What should `{name}` be" + (f" ({meaning})?" if meaning else "?"))
    return params, questions


class _Said:
    """A description as the parameter readers see it."""

    def __init__(self, text: str, lower: str, sources: list[str], destinations: list[str]):
        self.text, self.lower = text, lower
        self.sources, self.destinations = sources, destinations
        self.any_url = next(iter(sources or destinations), None)


def _health_check(said: _Said, params: dict[str, Any], questions: list[str]) -> None:
    text, lower, sources = said.text, said.lower, said.sources
    if sources or said.any_url:
        params["url"] = sources[0] if sources else said.any_url
    else:
        questions.append("Which URL should the health check call?")
    status = re.search(r"\b(?:status|returns?|answers?|responds?(?: with)?|code)\s*"
                       r"(?:code\s*|of\s*)?([1-5]\d\d)\b", lower)
    if status:
        params["expected_status"] = int(status.group(1))
    timeout = re.search(r"\b(?:timeout|within)\s*(?:of\s*)?(\d+(?:\.\d+)?)\s*"
                        r"(?:s|secs?|seconds?)\b", lower)
    if timeout and 0 < float(timeout.group(1)) <= 120:
        params["timeout_seconds"] = float(timeout.group(1))
    contains = re.search(r"\bcontains?\s+[\"'“]([^\"'”]{1,200})[\"'”]", text)
    if contains:
        params["must_contain"] = contains.group(1)


def _feed_digest(said: _Said, params: dict[str, Any], questions: list[str]) -> None:
    if said.any_url:
        params["feed_url"] = said.sources[0] if said.sources else said.any_url
    else:
        questions.append("Which feed URL (RSS, Atom or JSON Feed) should it read?")
    count = re.search(r"\b(?:top|latest|last|first|newest)\s+(\d{1,3})\b", said.lower) or \
        re.search(r"\b(\d{1,3})\s+(?:items|posts|articles|headlines|stories|entries)\b",
                  said.lower)
    if count:
        params["max_items"] = max(1, min(int(count.group(1)), 200))
    keyword = re.search(r"\b(?:about|mentioning|containing|matching)\s+[\"'“]([^\"'”]{1,200})"
                        r"[\"'”]", said.text)
    if keyword:
        params["keyword"] = keyword.group(1)


def _csv_report(said: _Said, params: dict[str, Any], questions: list[str]) -> None:
    text = said.text
    column = r"\s+(?:the\s+|each\s+)?[\"'“]?([a-z_][\w-]*)"
    group = re.search(rf"\bgroup(?:ed)?\s+by{column}", text, re.IGNORECASE) or \
        re.search(rf"\b(?:per|by){column}", text, re.IGNORECASE)
    if group and group.group(1).lower() not in _NOT_COLUMNS:
        params["group_by"] = group.group(1)
    else:
        questions.append("Which column should the report group rows by?")
    total = re.search(r"\b(?:sum|total)(?:s)?\s+(?:of\s+)?(?:the\s+)?[\"'“]?([a-z_][\w-]*)",
                      text, re.IGNORECASE)
    if total and total.group(1).lower() not in _NOT_COLUMNS:
        params["sum_column"] = total.group(1)
    if said.any_url:
        params["csv_url"] = said.sources[0] if said.sources else said.any_url


def _webhook_relay(said: _Said, params: dict[str, Any], questions: list[str]) -> None:
    if said.destinations or said.any_url:
        params["target_url"] = said.destinations[0] if said.destinations else said.any_url
    else:
        questions.append("Which URL should the events be forwarded to?")
    if re.search(r"\b(sign|signed|signature|hmac)\b", said.lower):
        params["signing_secret"] = "RELAY_SIGNING_KEY"
        questions.append("Add the signing key as the bot secret RELAY_SIGNING_KEY; which "
                         "header does the receiver expect the signature in?")


def _scheduled_cleanup(said: _Said, params: dict[str, Any], questions: list[str]) -> None:
    lower = said.lower
    # At most 9 digits: int() refuses thousands (a description may hold any number).
    age = re.search(r"\b(?:older\s+than|more\s+than|over)\s+(\d{1,9})\s*"
                    r"(day|week|month|year)s?", lower) \
        or re.search(r"\b(\d{1,9})\s*(day|week|month|year)s?\s+old\b", lower)
    if age:
        days = {"day": 1, "week": 7, "month": 30, "year": 365}[age.group(2)]
        params["max_age_days"] = min(int(age.group(1)) * days, 36500)
    else:
        questions.append("How old (in days) must a record be before it is deleted?")
    if said.destinations or said.any_url:
        params["delete_url"] = said.destinations[0] if said.destinations else said.any_url


# What the heuristics can read for each template in the catalogue; for a template without a
# reader they ask for its required parameters.
_PARAMETER_READERS = {"http_health_check": _health_check, "feed_digest": _feed_digest,
                      "csv_report": _csv_report, "webhook_relay": _webhook_relay,
                      "scheduled_cleanup": _scheduled_cleanup}
if not set(_PARAMETER_READERS) <= set(CATALOGUE):
    raise RuntimeError(f"parameter readers for unknown templates: "
                       f"{sorted(set(_PARAMETER_READERS) - set(CATALOGUE))}")
