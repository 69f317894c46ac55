"""Benchmark: the builder's conversation on 30+ real bot descriptions (cases.yaml).

For each case, through the API (the app in-process, a throwaway migrated PostgreSQL from
bench/harness.py): start a conversation with the description, compare the first turn's
specification with the expected fields, check a question was asked exactly when one is
needed, answer with the case's follow-up (or "use defaults") until it is ready, generate (the
queue job's body run in-process, as a worker runs it: ``pipeline.build``), and accept when
the build passed. Prints field accuracy, question precision, the share of template-shaped
bots built and validated (their generated tests run in the sandbox by the pipeline), whether
described bots that no template does got an honest answer (no question, "needs a language
model", a generation that stops saying so), and the time of each step and of each
validation step (median, p90).

The built-in heuristics path always runs. A model runs too when ``BUILDER_EVAL_OPENAI_URL``
(an OpenAI-compatible base URL), ``BUILDER_EVAL_OPENAI_KEY`` and optionally
``BUILDER_EVAL_MODEL`` are set.

Usage: ``python bench/builder_eval/run.py [--cases N] [--verbose]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from harness import percentile, signed_up_headers, start_database

CASES = Path(__file__).with_name("cases.yaml")
CASE_TEMPLATES: dict[str, dict[str, Any]] = {}  # case id -> {"template": expected}, if stated
PASSWORD = "correct horse battery staple"
BASE = "/api/v1/builder/conversations"


def value_at(spec: dict[str, Any], path: str) -> Any:
    if path in ("outputs", "data_sources"):
        return sorted({item.get("kind") for item in spec.get(path) or []})
    node: Any = spec
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def matches(expected: Any, found: Any) -> bool:
    if isinstance(expected, list):
        return sorted(expected) == found
    if isinstance(expected, int | float) and isinstance(found, int | float):
        return float(expected) == float(found)
    if isinstance(expected, str) and isinstance(found, str):
        return " ".join(expected.split()) == " ".join(found.split())
    return expected == found


class Workspace:
    """One signed-up workspace of the in-process app, talking to the builder's API."""

    def __init__(self, app, label: str) -> None:
        self.app, self.client = app, app.test_client()
        self.headers, self.workspace_id = signed_up_headers(
            self.client, f"Eval {label}", f"eval-{label}-{uuid.uuid4().hex[:6]}",
            f"eval-{label}-{uuid.uuid4().hex[:6]}@example.com", PASSWORD)

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, Any, float]:
        started = time.perf_counter()
        response = self.client.open(path, method=method, json=body, headers=self.headers)
        return response.status_code, response.json, (time.perf_counter() - started) * 1000

    def build(self, conversation_id: str, job_id: int) -> float:
        from codex32 import runtime
        from codex32.execution import builder_jobs

        started = time.perf_counter()
        with self.app.app_context():
            builder_jobs.run(runtime.current(), self.workspace_id, conversation_id, job_id)
        return (time.perf_counter() - started) * 1000


def run_case(workspace: Workspace, case: dict[str, Any], times: dict[str, list[float]]
             ) -> dict[str, Any]:
    status, first, ms = workspace.call("POST", BASE, {"message": case["description"]})
    if status != 201:
        return {"id": case["id"], "error": f"start {status}: {first}"}
    times["start (first turn)"].append(ms)
    spec = first["specification"]
    fields = {path: matches(expected, value_at(spec, path))
              for path, expected in case["expected"].items()}
    asked = bool(first["questions"])
    outcome: dict[str, Any] = {"id": case["id"], "clarity": case["clarity"], "fields": fields,
                               "asked": asked, "needed": bool(case["question"]),
                               "source": first["source"], "spec": spec,
                               "questions": [q["question"] for q in first["questions"]],
                               "message": first["content"]}
    conversation, state = first["conversation_id"], first["state"]
    outcome["template"] = spec.get("template")
    for said in [case.get("follow_up"), "use defaults"]:
        if state != "gathering" or not said:
            continue
        status, turn, ms = workspace.call("POST", f"{BASE}/{conversation}/messages",
                                          {"content": said})
        if status != 201:
            outcome["error"] = f"message {status}: {turn}"
            return outcome
        times["follow-up turn"].append(ms)
        state, outcome["template"] = turn["state"], turn["specification"].get("template")
    outcome["ready"] = state == "ready"
    if not outcome["ready"]:
        return outcome
    status, queued, ms = workspace.call("POST", f"{BASE}/{conversation}/generate")
    times["generate (enqueue)"].append(ms)
    if status != 202:
        outcome["error"] = f"generate {status}: {queued}"
        return outcome
    times["build (job)"].append(workspace.build(conversation, queued["job_id"]))
    _, done, _ = workspace.call("GET", f"{BASE}/{conversation}")
    report = done.get("report") or {}
    outcome["built"] = bool(report.get("passed"))
    tests = (report.get("rounds") or [{}])[-1].get("validation", {}).get("tests")
    outcome["tests_run"] = tests is not None
    outcome["tests_passed"] = bool(tests and tests["passed"] and not tests["failed"]
                                   and not tests["errors"])
    outcome["stopped"] = report.get("stopped") or done.get("error")
    for entry in done.get("progress") or []:
        if entry.get("event") == "step" and entry.get("duration_ms") is not None:
            times[f"  validation step {entry['name']}"].append(float(entry["duration_ms"]))
    if outcome["built"]:
        status, accepted, ms = workspace.call("POST", f"{BASE}/{conversation}/accept",
                                              {"name": case["id"]})
        times["accept"].append(ms)
        outcome["accepted"] = status == 201
        if status != 201:
            outcome["error"] = f"accept {status}: {accepted}"
    return outcome


def honest_answer(outcome: dict[str, Any]) -> bool:
    """A described bot no template does: the builder asks nothing, picks no template, says a
    language model is needed, and a generation stops saying so."""
    if outcome["source"] != "heuristics":
        return not outcome["asked"]
    return (not outcome["asked"] and not outcome.get("template")
            and "needs a language model" in outcome["message"]
            and not outcome.get("built")
            and "no language model is configured" in str(outcome.get("stopped")))


def summarize(label: str, outcomes: list[dict[str, Any]], times: dict[str, list[float]],
              verbose: bool) -> None:
    print(f"\n== {label}: {len(outcomes)} cases ==")
    errors = [o for o in outcomes if "error" in o]
    for outcome in errors:
        print(f"  error in {outcome['id']}: {outcome['error'][:200]}")
    scored = [o for o in outcomes if "fields" in o]
    by_clarity: dict[str, list[bool]] = defaultdict(list)
    for outcome in scored:
        by_clarity["all"].extend(outcome["fields"].values())
        by_clarity[outcome["clarity"]].extend(outcome["fields"].values())
    for name, results in sorted(by_clarity.items()):
        print(f"field accuracy ({name}): {sum(results)}/{len(results)} = "
              f"{100 * sum(results) / max(len(results), 1):.1f} %")
    needed = [o for o in scored if o["needed"]]
    not_needed = [o for o in scored if not o["needed"]]
    print(f"questions asked when needed: {sum(o['asked'] for o in needed)}/{len(needed)}")
    print(f"no question when none needed: {sum(not o['asked'] for o in not_needed)}/"
          f"{len(not_needed)}")
    ready = [o for o in scored if o.get("ready")]
    print(f"ready to generate (after follow-ups): {len(ready)}/{len(scored)}")
    shaped = [o for o in scored if CASE_TEMPLATES.get(o["id"], {}).get("template")]
    built = [o for o in shaped if o.get("built")
             and CASE_TEMPLATES[o["id"]]["template"] == o.get("template")]
    print(f"template-shaped cases built and validated, from the template they need: "
          f"{len(built)}/{len(shaped)}")
    ran = [o for o in shaped if o.get("tests_run")]
    print(f"  their generated tests passed in the sandbox: "
          f"{sum(o['tests_passed'] for o in ran)}/{len(shaped)}")
    for outcome in shaped:
        if outcome not in built:
            print(f"  not built: {outcome['id']} (template {outcome.get('template')}): "
                  f"{str(outcome.get('stopped'))[:200]}")
    others = [o for o in scored if o not in shaped]
    described = [o for o in others if not o["needed"]]
    honest = [o for o in described if honest_answer(o)]
    print(f"described bots no template does, answered honestly (no question, no template, "
          f"'needs a language model', generate stops saying so): {len(honest)}/"
          f"{len(described)}")
    wrong = [o for o in scored if o.get("built") and o not in built]
    print(f"bots built from a template the case does not need: {len(wrong)}")
    print(f"accepted as bots: {sum(bool(o.get('accepted')) for o in scored)}/{len(scored)}")
    for step, values in sorted(times.items(), key=lambda item: item[0].startswith(" ")):
        if values:
            print(f"time {step}: median {statistics.median(values):.1f} ms, "
                  f"p90 {percentile(values, 90):.1f} ms (n={len(values)})")
    if verbose:
        for outcome in scored:
            wrong = [path for path, ok in outcome["fields"].items() if not ok]
            print(f"  {outcome['id']:<22} asked={outcome['asked']!s:<5} "
                  f"needed={outcome['needed']!s:<5} wrong={wrong} "
                  f"built={outcome.get('built')} questions={outcome['questions']}")


def configure_model(workspace: Workspace) -> bool:
    url, key = os.environ.get("BUILDER_EVAL_OPENAI_URL"), os.environ.get(
        "BUILDER_EVAL_OPENAI_KEY")
    if not url or not key:
        return False
    config: dict[str, Any] = {"base_url": url, "timeout": 60}
    if os.environ.get("BUILDER_EVAL_MODEL"):
        config["model"] = os.environ["BUILDER_EVAL_MODEL"]
    status, body, _ = workspace.call("PUT", "/api/v1/providers/llm/openai",
                                     {"config": config, "secrets": {"api_key": key}})
    status2, _, _ = workspace.call("PATCH", "/api/v1/workspace",
                                   {"settings": {"llm_fallback": ["openai"]}})
    if status not in (200, 201) or status2 != 200:
        print(f"model not configured: {status} {body}")
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--cases", type=int, default=0, help="run only the first N cases")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    cases = yaml.safe_load(CASES.read_text())
    cases = cases[:args.cases] if args.cases else cases
    CASE_TEMPLATES.update({c["id"]: {"template": c["expected"]["template"]} for c in cases
                           if "template" in c["expected"]})
    from codex32.app import create_app
    from codex32.config import Settings

    folder = Path(tempfile.mkdtemp(prefix="builder-eval-"))
    database = start_database(folder)
    try:
        settings = Settings(env="test", data_dir=folder / "app", secret_key="s" * 40,
                            jwt_secret_key="j" * 40, secrets_keys=["k" * 44],
                            argon2_time_cost=1, argon2_memory_kib=8192,
                            rate_limit_per_minute=10_000_000, log_level="WARNING",
                            allow_bot_network=True)
        app = create_app(settings, database.urls)
        print(f"builder eval: {len(cases)} cases, {database.description}")
        runs = [("built-in heuristics", Workspace(app, "builtin"))]
        model = Workspace(app, "model")
        if configure_model(model):
            runs.append((f"model via {os.environ['BUILDER_EVAL_OPENAI_URL']}", model))
        else:
            print("model: not configured (set BUILDER_EVAL_OPENAI_URL and "
                  "BUILDER_EVAL_OPENAI_KEY to measure one)")
        for label, workspace in runs:
            times: dict[str, list[float]] = defaultdict(list)
            outcomes = [run_case(workspace, case, times) for case in cases]
            summarize(label, outcomes, times, args.verbose)
    finally:
        database.close()


if __name__ == "__main__":
    main()
