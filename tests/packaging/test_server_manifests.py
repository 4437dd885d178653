"""The team-server manifests are valid against the real schemas, and agree with each other."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

SERVER = Path(__file__).resolve().parents[2] / "packaging" / "server"
K8S = sorted((SERVER / "k8s").glob("*.yaml"))


def _docs(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


@pytest.mark.parametrize("path", K8S, ids=lambda p: p.name)
def test_kubernetes_manifest_is_valid(path: Path) -> None:
    for doc in _docs(path):
        kubernetes_validate.validate(doc, "1.37.0", strict=True)


def test_an_invalid_manifest_is_caught() -> None:
    bad = _docs(SERVER / "k8s" / "deployment.yaml")[0]
    bad["spec"]["replicas"] = "one"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, "1.37.0", strict=True)


def test_compose_file_is_valid() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.compose-spec",
            str(SERVER / "docker-compose.yml"),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_hpa_metrics_are_the_ones_the_adapter_exposes() -> None:
    hpa = _docs(SERVER / "k8s" / "hpa.yaml")[0]
    wanted = {m["pods"]["metric"]["name"] for m in hpa["spec"]["metrics"]}
    cm = _docs(SERVER / "k8s" / "prometheus-adapter-rules.yaml")[0]
    rules = yaml.safe_load(cm["data"]["config.yaml"])["rules"]
    exposed = {r["name"]["as"] for r in rules}
    assert wanted <= exposed
    assert any("vllm:num_requests_waiting" in r["seriesQuery"] for r in rules)


def test_probes_use_health_and_key_comes_from_the_secret() -> None:
    dep = _docs(SERVER / "k8s" / "deployment.yaml")[0]
    (container,) = dep["spec"]["template"]["spec"]["containers"]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["path"] == "/health"
    env = {e["name"]: e for e in container["env"]}
    assert env["VLLM_API_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "vllm-api-key"
    secret = _docs(SERVER / "k8s" / "secret.example.yaml")[0]
    assert secret["metadata"]["name"] == "vllm-api-key"
    assert "--enable-chunked-prefill" in container["args"]
