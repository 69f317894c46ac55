"""A generated bot's config.yaml, written from its specification (never by a model).

The pipeline owns this file so that what the user settled (schedule, limits, retries,
notifications, network, secrets) reaches the bot exactly; accepting a build reads the bot's
settings and schedule back from it. No Flask, no database here.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

NOTIFIERS = {"email": "email", "slack": "slack", "webhook": "webhook", "notification": "log"}
DEFAULT_TIMEOUT_SECONDS = 30


def render(spec: dict[str, Any], *, source: str, previous: str | None = None,
           template: dict[str, Any] | None = None) -> str:
    """config.yaml for ``spec``, saying who wrote the code (``source``: model or heuristics);
    ``previous`` (the refined bot's) bumps its version; ``template`` adds what a template
    generator rendered (id, parameters, requires)."""
    trigger = spec.get("trigger") or {"type": "manual"}
    limits = spec.get("limits") or {}
    handling = spec.get("error_handling") or {}
    network = spec.get("network") or {}
    config: dict[str, Any] = {
        "name": spec.get("name") or "new-bot",
        "description": spec.get("purpose") or "",
        "version": _next_version(previous),
        "entrypoint": "bot.py",
        "runtime": "python3.11",
        "trigger": trigger.get("type", "manual"),
        "generated_by": source,
    }
    if trigger.get("type") == "schedule" and trigger.get("cron"):
        config["schedule"] = {"cron": trigger["cron"], "timezone": trigger.get("timezone") or "UTC"}
    config["timeouts"] = {"run_seconds": limits.get("timeout_seconds", DEFAULT_TIMEOUT_SECONDS)}
    if limits.get("memory_mb"):
        config["memory_mb"] = limits["memory_mb"]
    config["retries"] = {"max": handling.get("retries", 0),
                         "backoff_seconds": handling.get("backoff_seconds", 10)}
    config["notifications"] = [
        {"notifier": NOTIFIERS[output["kind"]], "on": ["failed", "timed_out"],
         **({"target": output["target"]} if output.get("target") else {})}
        for output in spec.get("outputs") or [] if output.get("kind") in NOTIFIERS]
    needed = bool(network.get("needed")) or bool((template or {}).get("requires", {})
                                                .get("network"))
    config["network"] = {"needed": needed, "hosts": list(network.get("hosts") or [])}
    config["secrets"] = list(spec.get("secrets") or [])
    if template:
        config["template"] = template["id"]
        config["parameters"] = template.get("parameters") or {}
    return yaml.safe_dump(config, sort_keys=False, allow_unicode=True)


def _next_version(previous: str | None) -> str:
    """1.0.0 for a new bot; the refined bot's version with its minor part raised."""
    if previous:
        try:
            found = yaml.safe_load(previous)
        except yaml.YAMLError:
            found = None
        version = str(found.get("version", "")) if isinstance(found, dict) else ""
        match = re.fullmatch(r"(\d+)\.(\d+)(?:\.\d+)?", version)
        if match:
            return f"{match.group(1)}.{int(match.group(2)) + 1}.0"
    return "1.0.0"
