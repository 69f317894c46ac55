"""The built-in heuristics' draft, mapped onto the builder's specification schema.

With no language model configured, the workspace's route answers with the built-in
heuristics provider (``is_language_model`` False), whose JSON draft has its own older shape
(``trigger`` a word, ``schedule`` a cron, free-text ``clarifying_questions``). This module
turns that draft into a specification valid against :data:`.spec.SPEC_SCHEMA` and its
questions into the builder's questions (the spec field each settles, why it matters, a
default where one is sensible). Pure functions: no Flask, no database, no plugin calls.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from codex32.services.builder import spec as specs

# The schedule a scheduled bot gets when the user accepts the defaults.
DEFAULT_CRON = "0 9 * * *"

# (pattern over a heuristics question, the field it settles, why it matters, default)
_QUESTION_FIELDS: tuple[tuple[str, str, str, Any], ...] = (
    (r"what should the bot do", "template",
     "Nothing else can be decided before the bot's task is known.", None),
    (r"how often|every how many|once a minute", "trigger.cron",
     "A scheduled bot needs its schedule; it decides how often it runs and what it costs.",
     DEFAULT_CRON),
    (r"health check call", "parameters.url", "The bot checks this address on every run.",
     None),
    (r"feed url", "parameters.feed_url", "The bot reads its items from this feed.", None),
    (r"group rows by", "parameters.group_by", "The report totals rows per value of it.", None),
    (r"forwarded to", "parameters.target_url", "Every event is POSTed to this address.", None),
    (r"how old", "parameters.max_age_days",
     "Records older than this are deleted: too low deletes what is still needed.", 30),
    (r"signing key|signature", "secrets",
     "The receiver checks the signature with this secret.", "RELAY_SIGNING_KEY"),
    (r"where should the results go", "outputs",
     "Without a destination the bot only returns its result.", "return"),
    (r"e-mail address", "outputs", "The results are mailed to it.", None),
    (r"slack channel", "outputs", "The results are posted there.", None),
    (r"what should `(\w+)` be", "parameters.{0}", "The template needs it to run.", None),
)
_SOURCE_KINDS = {"web": "http", "rss": "rss", "csv": "csv", "api": "api",
                 "database": "database"}


def specification(draft: dict[str, Any], base: dict[str, Any], *,
                  task: str = "") -> dict[str, Any]:
    """The specification for a heuristics draft, over ``base`` (the conversation's last one):
    what the draft found replaces, what it did not find is kept. ``task``: this turn's answer
    to "what should the bot do?"; when the draft found a task in it, it is the purpose and
    the draft's name is the name (the vague words before it named nothing)."""
    found = dict(base)
    renamed = bool(task.strip()) and bool(draft.get("template")) and not base.get("template")
    if renamed:
        found["purpose"] = task.strip()[:2000]
    elif draft.get("purpose") and not base.get("purpose"):
        found["purpose"] = str(draft["purpose"])[:2000]
    if draft.get("name") and (renamed or base.get("name") in (None, specs.EMPTY["name"])):
        found["name"] = str(draft["name"])[:200]
    trigger = draft.get("trigger")
    if trigger in specs.TRIGGERS and (trigger != "manual" or "trigger" not in base):
        found["trigger"] = {"type": trigger, "timezone": base.get("trigger", {}).get(
            "timezone", "UTC")}
        if trigger == "schedule":
            found["trigger"]["cron"] = draft.get("schedule")
    if draft.get("template"):
        found["template"] = draft["template"]
    if draft.get("parameters"):
        found["parameters"] = {**(base.get("parameters") or {}), **draft["parameters"]}
    sources = [_source(s) for s in draft.get("data_sources") or [] if isinstance(s, dict)]
    if sources:
        found["data_sources"] = sources
    outputs = [o for o in (_output(o) for o in draft.get("outputs") or []
                           if isinstance(o, dict)) if o]
    if outputs:
        found["outputs"] = outputs
    secrets = [value for key, value in (found.get("parameters") or {}).items()
               if "secret" in key and isinstance(value, str)
               and re.fullmatch(r"[A-Z][A-Z0-9_]{0,127}", value)]
    if secrets:
        found["secrets"] = sorted(set(found.get("secrets") or []) | set(secrets))
    places = [s.get("location") for s in found.get("data_sources") or []] + [
        o.get("target") for o in found.get("outputs") or []]
    hosts = sorted({host for host in map(_host, places) if host})
    if hosts or any(o["kind"] in ("webhook", "slack", "email")
                    for o in found.get("outputs") or []):
        found["network"] = {"needed": True, "hosts": hosts}
    return found


def questions(draft: dict[str, Any]) -> list[dict[str, Any]]:
    """The draft's clarifying questions with the field each settles, why, and a default."""
    found: list[dict[str, Any]] = []
    for text in draft.get("clarifying_questions") or []:
        if not isinstance(text, str):
            continue
        field, why = "purpose", "It changes what is generated."
        default: Any = None
        for pattern, candidate, reason, fallback in _QUESTION_FIELDS:
            match = re.search(pattern, text, re.IGNORECASE)
            if match:
                field = candidate.format(*match.groups())
                why, default = reason, fallback
                break
        found.append({"field": field, "question": text, "why": why, "options": [],
                      "default": default})
    return found


def suggestions(spec: dict[str, Any]) -> list[str]:
    """Features worth adding, from what the specification leaves out."""
    found = []
    external = bool(spec.get("data_sources")) or any(
        o.get("kind") in ("webhook", "slack", "email") for o in spec.get("outputs") or [])
    if external and not (spec.get("error_handling") or {}).get("retries"):
        found.append("Retry failed calls to other services 3 times with exponential backoff.")
    if spec.get("trigger", {}).get("type") == "schedule" and not any(
            o.get("kind") in ("email", "slack", "notification") for o in
            spec.get("outputs") or []):
        found.append("Notify you when a scheduled run fails, by e-mail or Slack.")
    if not (spec.get("limits") or {}).get("timeout_seconds"):
        found.append("Bound each run with a timeout (30 seconds is the default).")
    if spec.get("data_sources") and len(found) < 3:
        found.append("Cache what the sources return so that repeated runs fetch less.")
    return found[:3]


def _source(found: dict[str, Any]) -> dict[str, Any]:
    source: dict[str, Any] = {"kind": _SOURCE_KINDS.get(str(found.get("kind")), "other")}
    if found.get("url"):
        source["location"] = str(found["url"])[:2000]
    return source


def _output(found: dict[str, Any]) -> dict[str, Any] | None:
    kind = found.get("kind")
    if kind == "email":
        target = ", ".join(found.get("to") or [])
        return {"kind": "email", **({"target": target} if target else {})}
    if kind == "slack":
        channel = found.get("channel") or found.get("webhook_url")
        return {"kind": "slack", **({"target": channel} if channel else {})}
    if kind == "webhook" and found.get("url"):
        return {"kind": "webhook", "target": found["url"]}
    if kind == "file":
        return {"kind": "return", "description": f"writes {found.get('path') or 'a file'}"}
    return None


def output_from_answer(value: str) -> dict[str, Any]:
    """An output for a free-text answer to "where should the results go?"."""
    text = value.strip()
    if "@" in text and " " not in text:
        return {"kind": "email", "target": text}
    if text.startswith("#") or "slack" in text.lower():
        return {"kind": "slack", "target": text}
    if re.match(r"https?://", text):
        return {"kind": "webhook", "target": text}
    if text.lower() in ("return", "", "none", "nowhere"):
        return {"kind": "return"}
    return {"kind": "return", "description": text[:2000]}


def _host(url: Any) -> str | None:
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        return None
    return urlsplit(url).hostname
