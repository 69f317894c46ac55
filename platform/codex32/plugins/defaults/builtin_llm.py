"""BuiltinLLM: the offline "provider" that turns a bot description into a bot specification.

Deterministic keyword and pattern rules, not a language model, and it must never pass for one:
``is_language_model`` is False, every specification carries a ``note`` saying so, and usage is
reported as zero tokens at zero cost (no model read or wrote any). No network, no model files.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

from croniter import croniter

from codex32.plugins.api import ChatRequest, ChatResult, LLMProvider, Register, Usage, hookimpl
from codex32.plugins.defaults.description_parameters import STOPWORDS, parameters_for
from codex32.plugins.defaults.template_catalogue import CATALOGUE

MODEL = "builtin-heuristics-1"
MAX_INPUT_CHARS = 20_000  # a description, not a document: bounds the regex work
NOTE = ("Produced by Codex-32's built-in heuristics, not a language model: keyword rules filled "
        "these fields. Check them, or configure an LLM provider for better specifications.")

_URL = re.compile(r"https?://[^\s<>\"'`)\]]+", re.IGNORECASE)
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
_CHANNEL = re.compile(r"(?<![\w&])#([a-z0-9][a-z0-9_-]{0,79})\b", re.IGNORECASE)
_DESTINATION_BEFORE = re.compile(r"\b(to|into|onto|at|via)\s*$", re.IGNORECASE)
_WEEKDAYS = {"sunday": 0, "monday": 1, "tuesday": 2, "wednesday": 3, "thursday": 4,
             "friday": 5, "saturday": 6}
# Hours for times of day said in words; "nightly" jobs conventionally run in the small hours.
_PARTS_OF_DAY = {"morning": 9, "noon": 12, "midday": 12, "afternoon": 14, "evening": 18,
                 "night": 2, "nightly": 2, "midnight": 0}
_DEFAULT_HOUR = 9
_PERIODIC = re.compile(r"\b(every|each|daily|hourly|weekly|monthly|nightly|cron|periodically|"
                       r"regularly|schedule[ds]?|weekdays?|weekends?|mondays|tuesdays|"
                       r"wednesdays|thursdays|fridays|saturdays|sundays)\b")
_WATCHING = re.compile(r"\b(monitor|keep an eye|watch|poll)\w*")
# "webhook" alone is no trigger: "post to a webhook" is an output.
_WEBHOOK_TRIGGER = re.compile(r"\b(incoming|receives?|received|whenever|triggered by|"
                              r"webhooks? (?:arrives?|comes? in|is received)|"
                              r"on (?:each|every|new) \w+|when (?:a|an|new) \w+)\b")
_NOTIFY = re.compile(r"\b(notify|notifies|notified|notifications?|alerts?|alerting|e-?mail|"
                     r"mail me|slack|message me|tell me|let me know|send|sends|"
                     r"post (?:it|them|to|the results?))\b")


class BuiltinLLM(LLMProvider):
    """Built-in heuristics (not a language model): bot descriptions to specifications.

    Reads every user message of the chat (later answers fill what earlier ones left out) and
    answers the specification as JSON in ``json_mode``, as a short text summary otherwise.
    """

    id = "builtin"
    title = "Built-in heuristics (not a language model)"
    description = ("Offline keyword rules that draft a bot specification and ask what is "
                   "missing. No model, no network, no cost.")
    capabilities = frozenset({"chat", "json"})
    is_language_model = False

    def complete(self, request: ChatRequest) -> ChatResult:
        """Draft the specification of the bot the user messages describe."""
        said = [m.content for m in request.messages if m.role == "user" and m.content.strip()]
        spec = specification_from(said)
        text = json.dumps(spec, ensure_ascii=False) if request.json_mode else _summary(spec)
        return ChatResult(text=text, model=MODEL, usage=Usage(), cost_usd=0.0,
                          finish_reason="stop")


def specification_from(messages: list[str] | str) -> dict[str, Any]:
    """The bot specification for a description (a list of user messages, oldest first)."""
    said = [messages] if isinstance(messages, str) else list(messages)
    text = "\n".join(said)[:MAX_INPUT_CHARS]
    lower = text.lower()
    urls = [u.rstrip(".,;:!?") for u in _URL.findall(text)]
    sources, destinations = _split_urls(text, urls)
    schedule, schedule_question = schedule_from(lower)
    template = template_for(lower)
    if schedule or _PERIODIC.search(lower):
        trigger = "schedule"
    elif _WEBHOOK_TRIGGER.search(lower) or template == "webhook_relay":
        trigger = "webhook"
    elif _WATCHING.search(lower):
        trigger = "schedule"
    else:
        trigger = "manual"
    outputs = _outputs(text, lower, destinations)
    parameters, questions = parameters_for(template, text, lower, sources, destinations)
    data_sources = _data_sources(lower, sources)
    if template is None:
        if not (urls or outputs or data_sources or trigger != "manual"):
            tasks = [source.task for source in CATALOGUE.values()]
            questions.insert(0, f"What should the bot do? For example: "
                                f"{', '.join(tasks[:-1])}, or {tasks[-1]}.")
        # A bot the user described (a source, a schedule, a destination) that no template
        # does: no question would let these rules write it, so none is asked; the builder
        # says that generating it needs a language model.
        return _draft(said, urls, trigger, schedule, data_sources, outputs, None, {},
                      questions)
    if trigger == "schedule" and schedule is None:
        questions.append(schedule_question or
                         "How often should it run (for example every 5 minutes, hourly, or "
                         "daily at 9)?")
    elif schedule_question:
        questions.append(schedule_question)
    questions.extend(_output_questions(lower, outputs))
    return _draft(said, urls, trigger, schedule, data_sources, outputs, template, parameters,
                  questions)


def _draft(said: list[str], urls: list[str], trigger: str, schedule: str | None,
           data_sources: list[dict[str, str]], outputs: list[dict[str, Any]],
           template: str | None, parameters: dict[str, Any], questions: list[str]
           ) -> dict[str, Any]:
    purpose = _first_sentence(said[0]) if said else ""
    return {
        "name": _name(purpose, template, urls),
        "purpose": purpose,
        "trigger": trigger,
        "schedule": schedule if trigger == "schedule" else None,
        "data_sources": data_sources,
        "outputs": outputs,
        "template": template,
        "parameters": parameters,
        "clarifying_questions": questions,
        "note": NOTE,
    }


def schedule_from(lower: str) -> tuple[str | None, str | None]:
    """(cron expression, question) for the schedule a lowercase description states."""
    explicit = re.search(r"(?<!\S)((?:[\d*/,-]+\s+){4}[\d*/,-]+)(?!\S)", lower)
    if explicit and ("*" in explicit.group(1) or "cron" in lower) \
            and croniter.is_valid(explicit.group(1)):
        return " ".join(explicit.group(1).split()), None
    if re.search(r"\bevery\s+(\d+\s*)?(seconds?|secs?)\b", lower):
        return "* * * * *", "Schedules run at most once a minute; is every minute acceptable?"
    # At most 9 digits: int() refuses thousands (a description may hold any number).
    every = re.search(r"\bevery\s+(\d{1,9})\s*(minutes?|mins?|hours?|hrs?|days?)\b", lower)
    if every:
        count, unit = int(every.group(1)), every.group(2)
        if unit.startswith("m") and count >= 60 and count % 60 == 0:
            count, unit = count // 60, "hours"
        if unit.startswith("m"):
            if not 1 <= count <= 59:
                return None, "Every how many minutes (1 to 59)?"
            return ("* * * * *" if count == 1 else f"*/{count} * * * *"), None
        if unit.startswith("h"):
            return _hours(count), None if 1 <= count <= 23 else "Every how many hours (1-23)?"
        hour, minute = _time_of_day(lower)
        return f"{minute} {hour} */{max(1, min(count, 31))} * *", None
    if re.search(r"\bevery\s+minute\b", lower):
        return "* * * * *", None
    if re.search(r"\b(hourly|every\s+hour|each\s+hour|once\s+an\s+hour)\b", lower):
        return "0 * * * *", None
    hour, minute = _time_of_day(lower)
    if re.search(r"\b(weekdays|every\s+weekday|on\s+weekdays|business\s+days)\b", lower):
        return f"{minute} {hour} * * 1-5", None
    if re.search(r"\b(weekends?|every\s+weekend)\b", lower):
        return f"{minute} {hour} * * 0,6", None
    days = sorted({n for day, n in _WEEKDAYS.items() if re.search(rf"\b{day}s?\b", lower)})
    if days and re.search(r"\b(every|each|on)\b|days\b", lower):
        return f"{minute} {hour} * * {','.join(map(str, days))}", None
    if re.search(r"\b(daily|every\s+(day|morning|evening|night)|each\s+(day|morning|evening|"
                 r"night)|nightly|once\s+a\s+day)\b", lower):
        return f"{minute} {hour} * * *", None
    if re.search(r"\b(weekly|(every|each)\s+week|once\s+a\s+week)\b", lower):
        return f"{minute} {hour} * * 1", None
    if re.search(r"\b(monthly|(every|each)\s+month|once\s+a\s+month)\b", lower):
        return f"{minute} {hour} 1 * *", None
    return None, None


def template_for(lower: str) -> str | None:
    """The best-matching template id for a lowercase description, or None when nothing fits."""
    scores = {}
    for template, source in CATALOGUE.items():  # each template's keywords: template.yaml
        if _matches(source.against_keywords, lower):
            continue  # the description asks for something this template does not do
        scores[template] = 2 * _matches(source.strong_keywords, lower) \
            + _matches(source.weak_keywords, lower)
    if not scores:
        return None
    best = max(scores, key=lambda t: scores[t])  # ties: the first in CATALOGUE order
    return best if scores[best] > 0 else None


def _matches(keywords: tuple[str, ...], lower: str) -> int:
    return sum(1 for k in keywords if re.search(rf"\b{re.escape(k)}\b", lower))


def _hours(count: int) -> str:
    return "0 * * * *" if count == 1 else f"0 */{max(1, min(count, 23))} * * *"


def _time_of_day(lower: str) -> tuple[int, int]:
    """(hour, minute) from "at 9", "9:30pm", "noon", "every morning"…; 9:00 when unsaid."""
    match = re.search(r"\b(?:at\s+)?(\d{1,2})(?::(\d{2}))?\s*(a\.?m\.?|p\.?m\.?)(?!\w)", lower) \
        or re.search(r"\bat\s+(\d{1,2})(?::(\d{2}))?(?!\s*(?:%|percent|minutes?|hours?|days?))"
                     r"\b()", lower) \
        or re.search(r"\b(\d{1,2}):(\d{2})\b()", lower)
    if match:
        hour, minute = int(match.group(1)), int(match.group(2) or 0)
        suffix = (match.group(3) or "").replace(".", "")
        if suffix == "pm" and hour < 12:
            hour += 12
        elif suffix == "am" and hour == 12:
            hour = 0
        if hour <= 23 and minute <= 59:
            return hour, minute
    for word, hour in _PARTS_OF_DAY.items():
        if re.search(rf"\b{word}\b", lower):
            return hour, 0
    return _DEFAULT_HOUR, 0


def _split_urls(text: str, urls: list[str]) -> tuple[list[str], list[str]]:
    """Sources and destinations: a URL after "to"/"into"/"via", or a Slack hook, is a target."""
    sources: list[str] = []
    destinations: list[str] = []
    for url in dict.fromkeys(urls):
        before = text[:text.find(url)][-40:]
        before = re.sub(r"\b(the|a|an|my|our|this)\s*$", "", before.rstrip()).rstrip()
        is_target = _DESTINATION_BEFORE.search(before) or "hooks.slack.com" in url.lower()
        (destinations if is_target else sources).append(url)
    return sources, destinations


def _data_sources(lower: str, sources: list[str]) -> list[dict[str, str]]:
    found = []
    words = _URL.sub(" ", lower)  # "api.example.com" is a host, not a mention of an API
    for url in sources:
        path = url.lower()
        if re.search(r"rss|atom|feed|\.xml\b", path):
            kind = "rss"
        elif path.split("?")[0].endswith(".csv"):
            kind = "csv"
        elif "/api" in path or "//api." in path or path.split("?")[0].endswith(".json"):
            kind = "api"
        else:
            kind = "web"
        found.append({"kind": kind, "url": url})
    kinds = {s["kind"] for s in found}
    for kind, pattern in (("rss", r"\b(rss|atom|feeds?)\b"), ("csv", r"\b(csv|spreadsheet)\b"),
                          ("api", r"\b(api|rest|json endpoint)\b"),
                          ("database", r"\b(database|postgres\w*|mysql|sqlite|sql|db)\b")):
        if kind not in kinds and re.search(pattern, words):
            found.append({"kind": kind})
    return found


def _outputs(text: str, lower: str, destinations: list[str]) -> list[dict[str, Any]]:
    outputs: list[dict[str, Any]] = []
    emails = list(dict.fromkeys(_EMAIL.findall(text)))
    if emails or re.search(r"\b(e-?mail|mail me|inbox)\b", lower):
        outputs.append({"kind": "email", "to": emails})
    slack_hooks = [u for u in destinations if "hooks.slack.com" in u.lower()]
    if slack_hooks or re.search(r"\bslack\b", lower):
        channels = list(dict.fromkeys(f"#{c}" for c in _CHANNEL.findall(text)))
        outputs.append({"kind": "slack", "channel": channels[0] if channels else None,
                        "webhook_url": slack_hooks[0] if slack_hooks else None})
    for url in destinations:
        if url not in slack_hooks:
            outputs.append({"kind": "webhook", "url": url})
    file_name = re.search(r"\b([\w-]+\.(?:csv|json|txt|md|xlsx|html))\b", _URL.sub(" ", text))
    if re.search(r"\b(save|write|export|store)\w*\b.*\b(file|disk|\.csv|\.json)", lower) or (
            file_name and re.search(r"\b(save|write|export)\w*\b", lower)):
        outputs.append({"kind": "file", "path": file_name.group(1) if file_name else None})
    return outputs


def _output_questions(lower: str, outputs: list[dict[str, Any]]) -> list[str]:
    questions = []
    for output in outputs:
        if output["kind"] == "email" and not output["to"]:
            questions.append("Which e-mail address should receive the messages?")
        if output["kind"] == "slack" and not (output["channel"] or output["webhook_url"]):
            questions.append("Which Slack channel (or incoming-webhook URL) should it post to?")
    if not outputs and _NOTIFY.search(lower):
        questions.append("Where should the results go: an e-mail address, a Slack channel or a "
                         "webhook URL?")
    return questions


def _first_sentence(text: str) -> str:
    sentence = re.split(r"(?<=[.!?])\s+|\n", text.strip(), maxsplit=1)[0]
    return sentence[:200].strip()


def _name(purpose: str, template: str | None, urls: list[str]) -> str:
    """A slug: the URL's host and the template when both are known, else the key words."""
    host = urlsplit(urls[0]).hostname if urls else None
    if template and host:
        base = f"{host.removeprefix('www.')}-{CATALOGUE[template].slug}"
    else:
        words = [w for w in re.findall(r"[a-z0-9]+", _URL.sub(" ", purpose.lower()))
                 if w not in STOPWORDS]
        base = "-".join(words[:5]) or (CATALOGUE[template].slug if template else "bot")
    slug = re.sub(r"[^a-z0-9]+", "-", base.lower()).strip("-")
    return slug[:60].rstrip("-") or "bot"


def _summary(spec: dict[str, Any]) -> str:
    lines = [f"{BuiltinLLM.title} drafted this specification.",
             f"- name: {spec['name']}", f"- purpose: {spec['purpose']}",
             f"- trigger: {spec['trigger']}"
             + (f" ({spec['schedule']})" if spec["schedule"] else ""),
             f"- template: {spec['template'] or 'none matched'}"]
    if spec["data_sources"]:
        lines.append("- data sources: " + ", ".join(
            s.get("url") or s["kind"] for s in spec["data_sources"]))
    if spec["outputs"]:
        lines.append("- outputs: " + ", ".join(o["kind"] for o in spec["outputs"]))
    if spec["clarifying_questions"]:
        lines.append("Questions:")
        lines.extend(f"{i}. {q}" for i, q in enumerate(spec["clarifying_questions"], 1))
    lines.append(spec["note"])
    return "\n".join(lines)


@hookimpl
def register_llm_providers(register: Register) -> None:
    """Provide :class:`BuiltinLLM` (id ``builtin``)."""
    register(BuiltinLLM)
