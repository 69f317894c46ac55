"""Deployment files: they parse, and they agree with each other and with the Procfile."""

from __future__ import annotations

import functools
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"

IMAGE = "codex32"
WEB_PORT = 8000
PROCESSES = {
    "release": "codex32 db upgrade",
    "web": "gunicorn --config gunicorn.conf.py wsgi:app",
    "worker": "codex32 worker",
    "vectors": "codex32-milvus serve",
}


def procfile(path: Path) -> dict[str, str]:
    entries = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, command = line.split(":", 1)
            entries[name.strip()] = command.strip()
    return entries


def documents() -> list[dict]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        docs += [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]
    return docs


@functools.cache
def resources() -> list[dict]:
    """What the kustomization applies."""
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    docs = []
    for name in kustomization["resources"]:
        docs += [doc for doc in yaml.safe_load_all((K8S / name).read_text()) if doc is not None]
    return docs


def find(kind: str, name: str) -> dict:
    (doc,) = [d for d in resources() if d["kind"] == kind and d["metadata"]["name"] == name]
    return doc


def pod_specs() -> list[tuple[str, dict]]:
    found = []
    for doc in resources():
        if doc["kind"] in ("Deployment", "StatefulSet", "Job"):
            found.append((doc["metadata"]["name"], doc["spec"]["template"]["spec"]))
    return found


def container(name: str, kind: str = "Deployment") -> dict:
    (only,) = find(kind, name)["spec"]["template"]["spec"]["containers"]
    return only


# --- Procfile and Docker ------------------------------------------------------------------

def test_procfile_declares_every_process():
    assert procfile(ROOT / "Procfile") == PROCESSES


def test_codex32_run_starts_the_long_lived_processes_of_the_procfile_on_localhost(tmp_path):
    # `make run`: honcho stops the whole set when one process exits, so the one-shot release
    # stays out (`codex32 run` migrates before it starts the set).
    from codex32.config import Settings
    from codex32.supervisor import process_set
    from codex32.testing.receivers import free_port

    found = process_set(Settings(data_dir=tmp_path), 8123,
                        environ={"PATH": "/usr/bin", "CODEX32_MILVUS_PORT": str(free_port())})
    assert set(found.commands) == set(PROCESSES) - {"release"}
    web, worker, vectors = (shlex.split(found.commands[name].removeprefix("exec "))
                            for name in ("web", "worker", "vectors"))
    assert web[1:3] == ["-m", "gunicorn"] and web[-1] == "wsgi:app"
    assert web[web.index("--config") + 1] == str(ROOT / "gunicorn.conf.py")
    assert web[web.index("--bind") + 1] == "127.0.0.1:8123"
    assert worker[1:] == ["-m", "codex32.cli", *PROCESSES["worker"].split()[1:]]
    assert Path(vectors[0]).name + " " + vectors[1] == PROCESSES["vectors"]
    assert vectors[vectors.index("--host") + 1] == "127.0.0.1"
    assert found.env["MILVUS_URI"] == f"http://127.0.0.1:{vectors[vectors.index('--port') + 1]}"
    assert not (ROOT / "Procfile.dev").exists(), "one development process set: codex32 run"


def test_wsgi_module_exposes_the_app_from_the_factory():
    source = (ROOT / "wsgi.py").read_text()
    assert "from codex32.app import create_app" in source
    assert re.search(r"^app = create_app\(\)$", source, re.M)


def test_dockerfile_is_multi_stage_slim_and_non_root():
    lines = [line.strip() for line in (ROOT / "Dockerfile").read_text().splitlines()]
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in lines
    stages = [line for line in lines if line.startswith("FROM ")]
    assert stages == ["FROM ${PYTHON_IMAGE} AS build", "FROM ${PYTHON_IMAGE} AS runtime"]
    runtime = lines[lines.index(stages[1]):]
    (user,) = [line for line in runtime if line.startswith("USER ")]
    assert user.split()[1].split(":")[0] not in ("0", "root")
    (cmd,) = [line for line in runtime if line.startswith("CMD ")]
    assert " ".join(json.loads(cmd[4:])) == PROCESSES["web"]
    assert "COPY migrations/ migrations/" in runtime
    assert "CODEX32_MIGRATIONS_DIR=/app/migrations \\" in runtime  # the CLI finds them there
    assert f"EXPOSE {WEB_PORT}" in runtime


def test_dockerignore_keeps_local_state_and_secrets_out():
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".git", ".venv", ".data", ".env", "tests"} <= ignored


# --- Kubernetes -----------------------------------------------------------------------------

def test_every_manifest_parses_and_names_itself():
    docs = documents()
    assert docs
    for doc in docs:
        assert doc.get("kind"), doc
        if doc["kind"] != "Kustomization":
            assert doc["apiVersion"] and doc["metadata"]["name"]


def test_the_kustomization_lists_every_manifest_but_the_example_secret():
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    present = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml", "secret.example.yaml"}
    assert listed == present
    assert [image["name"] for image in kustomization["images"]] == [IMAGE]


def test_the_expected_kinds_are_there():
    kinds = {doc["kind"] for doc in resources()}
    assert {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget",
            "NetworkPolicy", "ConfigMap", "Job"} <= kinds


@pytest.mark.parametrize("name", ["codex32-web", "codex32-worker"])
def test_web_and_worker_probe_the_health_endpoints(name):
    spec = container(name)
    ports = {port["name"]: port["containerPort"] for port in spec["ports"]}
    assert spec["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert spec["livenessProbe"]["httpGet"]["path"] == "/health/alive"
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert spec[probe]["httpGet"]["port"] in ports


def test_the_web_container_listens_where_the_service_and_prometheus_look():
    spec = container("codex32-web")
    env = {item["name"]: item.get("value") for item in spec.get("env", [])}
    (port,) = spec["ports"]
    assert port["containerPort"] == WEB_PORT and env["PORT"] == str(WEB_PORT)
    service = find("Service", "codex32-web")
    assert service["spec"]["ports"][0]["targetPort"] == port["name"]
    template = find("Deployment", "codex32-web")["spec"]["template"]
    assert service["spec"]["selector"].items() <= template["metadata"]["labels"].items()
    assert template["metadata"]["annotations"]["prometheus.io/port"] == str(WEB_PORT)


@pytest.mark.parametrize(("name", "kind", "command"), [
    ("codex32-web", "Deployment", PROCESSES["web"]),
    ("codex32-worker", "Deployment", PROCESSES["worker"]),
    ("codex32-release", "Job", PROCESSES["release"]),
    ("codex32-vectors", "StatefulSet", PROCESSES["vectors"]),
])
def test_pods_run_the_procfile_processes_from_one_image(name, kind, command):
    spec = container(name, kind)
    assert spec["image"] == IMAGE
    assert shlex.join(spec["command"]).startswith(command)


def test_every_container_has_requests_and_limits():
    for name, pod in pod_specs():
        assert pod["automountServiceAccountToken"] is False, name
        for spec in pod["containers"]:
            for section in ("requests", "limits"):
                assert {"cpu", "memory"} <= spec["resources"][section].keys(), name
            assert spec["securityContext"]["readOnlyRootFilesystem"] is True, name
            assert spec["securityContext"]["capabilities"]["drop"] == ["ALL"], name


def test_everything_but_the_worker_runs_as_non_root_without_capabilities():
    for name, pod in pod_specs():
        if name == "codex32-worker":
            continue
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        for spec in pod["containers"]:
            assert spec["securityContext"]["allowPrivilegeEscalation"] is False, name
            assert "add" not in spec["securityContext"]["capabilities"], name


def test_the_worker_gets_only_what_the_sandbox_needs():
    # Root lets the sandbox run bots as another uid; SYS_ADMIN gives them namespaces and
    # NET_ADMIN their own loopback (bubblewrap fails without it).
    pod = find("Deployment", "codex32-worker")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsUser"] == 0
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    security = pod["containers"][0]["securityContext"]
    assert security.get("privileged") is False
    assert set(security["capabilities"]["add"]) == {
        "SYS_ADMIN", "NET_ADMIN", "SETUID", "SETGID", "CHOWN", "KILL"}
    # The root filesystem is read-only: the sandbox's state folder is a volume.
    mounts = {mount["mountPath"] for mount in pod["containers"][0]["volumeMounts"]}
    assert security["readOnlyRootFilesystem"] is True and "/run/codex32" in mounts


SANDBOX_RUN = r"""
import sys, threading
from codex32.execution import sandbox
from codex32.plugins.interfaces import ExecutionLimits, ExecutionRequest
policy = sandbox.SandboxPolicy(isolation="namespace", uid_range=(300500, 300509))
request = ExecutionRequest(execution_id="caps", workspace_id="w", bot_id="b",
                           code="import os\ndef main(event, context):\n    return os.getuid()\n",
                           limits=ExecutionLimits(timeout_seconds=20))
outcome = sandbox.run_sandboxed(request, threading.Event(), policy, 16)
print(outcome.status, outcome.result, outcome.error)
"""


def test_the_worker_capabilities_are_enough_for_a_sandboxed_run():
    """A run at the namespace level succeeds with only the capabilities the manifest adds
    (root's bounding set cut down to them), so the manifest's worker can run bots."""
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and util-linux setpriv")
    pod = find("Deployment", "codex32-worker")["spec"]["template"]["spec"]
    added = pod["containers"][0]["securityContext"]["capabilities"]["add"]
    bounding = ",".join(["-all", *(f"+{cap.lower()}" for cap in added)])
    done = subprocess.run(["setpriv", f"--bounding-set={bounding}", "--", sys.executable, "-c",
                           SANDBOX_RUN], capture_output=True, text=True, timeout=60)
    assert done.stdout.startswith("succeeded 3005"), done.stdout + done.stderr


def test_pods_cannot_reach_the_cloud_metadata_address():
    (egress,) = [d for d in resources()
                 if d["kind"] == "NetworkPolicy" and "Egress" in d["spec"]["policyTypes"]]
    assert egress["spec"]["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "codex32"}
    blocks = [peer["ipBlock"] for rule in egress["spec"]["egress"] for peer in rule["to"]
              if "ipBlock" in peer]
    assert blocks == [{"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32"]}]


@pytest.mark.parametrize("name", ["codex32-web", "codex32-worker", "codex32-release"])
def test_config_comes_from_the_configmap_and_the_secret(name):
    kind = "Job" if name == "codex32-release" else "Deployment"
    sources = container(name, kind)["envFrom"]
    assert {"configMapRef": {"name": "codex32-config"}} in sources
    assert {"secretRef": {"name": "codex32-secrets"}} in sources
    assert find("ConfigMap", "codex32-config")["data"]["CODEX32_ENV"] == "production"


def example_secrets() -> dict[str, dict[str, str]]:
    """deploy/k8s/secret.example.yaml's Secrets: name -> their keys and values."""
    return {secret["metadata"]["name"]: secret["stringData"]
            for secret in yaml.safe_load_all((K8S / "secret.example.yaml").read_text())}


def test_the_example_secret_names_what_production_requires():
    keys = {key for data in example_secrets().values() for key in data}
    assert {"DATABASE_URL", "MIGRATION_DATABASE_URL", "SECRET_KEY", "JWT_SECRET_KEY",
            "CODEX32_SECRETS_KEYS", "REDIS_URL", "SENTRY_DSN"} <= keys


@pytest.mark.parametrize(("name", "kind"), [
    ("codex32-web", "Deployment"), ("codex32-worker", "Deployment"),
    ("codex32-vectors", "StatefulSet")])
def test_only_the_release_job_gets_the_owner_roles_credentials(name, kind):
    # The owner role may switch row-level security off: a pod serving tenants or running bots
    # that held its password would hold every workspace's rows.
    secrets = example_secrets()
    owners = {secret for secret, data in secrets.items() if "MIGRATION_DATABASE_URL" in data}
    assert owners and not any("codex32_owner" in value for secret, data in secrets.items()
                              if secret not in owners for value in data.values())
    release = {source["secretRef"]["name"]
               for source in container("codex32-release", "Job")["envFrom"]
               if "secretRef" in source}
    assert owners <= release
    spec = container(name, kind)
    mounted = {source["secretRef"]["name"] for source in spec.get("envFrom", [])
               if "secretRef" in source}
    mounted |= {item["valueFrom"]["secretKeyRef"]["name"] for item in spec.get("env", [])
                if "secretKeyRef" in item.get("valueFrom", {})}
    assert not mounted & owners


def test_shutdown_grace_covers_gunicorns_graceful_timeout():
    pod = find("Deployment", "codex32-web")["spec"]["template"]["spec"]
    graceful = int(find("ConfigMap", "codex32-config")["data"]["GUNICORN_GRACEFUL_TIMEOUT"])
    pre_stop = int(pod["containers"][0]["lifecycle"]["preStop"]["exec"]["command"][-1])
    assert pod["terminationGracePeriodSeconds"] > graceful + pre_stop


def test_autoscalers_and_budgets_point_at_real_workloads():
    deployments = {d["metadata"]["name"]: d for d in resources() if d["kind"] == "Deployment"}
    for hpa in (d for d in resources() if d["kind"] == "HorizontalPodAutoscaler"):
        assert hpa["spec"]["scaleTargetRef"]["name"] in deployments
        assert hpa["spec"]["minReplicas"] >= 2
    labels = [d["spec"]["template"]["metadata"]["labels"] for d in deployments.values()]
    for pdb in (d for d in resources() if d["kind"] == "PodDisruptionBudget"):
        selector = pdb["spec"]["selector"]["matchLabels"]
        assert any(selector.items() <= pod.items() for pod in labels)


def test_network_policies_open_the_web_port_and_the_vector_port_only_to_the_platform():
    policies = {d["metadata"]["name"]: d for d in resources() if d["kind"] == "NetworkPolicy"}
    web_ports = [p["port"] for rule in policies["codex32-web"]["spec"]["ingress"]
                 for p in rule["ports"]]
    assert web_ports == [WEB_PORT]
    vector_sources = policies["codex32-vectors"]["spec"]["ingress"][0]["from"]
    components = {s["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
                  for s in vector_sources}
    assert components == {"web", "worker"}


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kustomize_builds_with_the_release_image():
    built = subprocess.run(["kubectl", "kustomize", str(K8S)], capture_output=True, text=True,
                           timeout=60, check=True).stdout
    images = set(re.findall(r"image: (\S+)", built))
    assert images == {"ghcr.io/codex32/codex32:0.1.0"}
    assert all(doc["metadata"].get("namespace") == "codex32"
               for doc in yaml.safe_load_all(built) if doc)


def test_worker_shutdown_grace_fits_inside_the_pod_termination_grace():
    from pathlib import Path

    import yaml

    path = Path(__file__).resolve().parents[2] / "deploy" / "k8s" / "worker-deployment.yaml"
    pod = yaml.safe_load(path.read_text())["spec"]["template"]["spec"]
    env = {item["name"]: item.get("value") for item in pod["containers"][0]["env"]}
    assert float(env["WORKER_SHUTDOWN_GRACE_SECONDS"]) < pod["terminationGracePeriodSeconds"]
