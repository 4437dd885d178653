"""The team-server manifests are valid against the real schemas, agree with each other and with the
proxy's config, and keep the promises docs/team-server.md makes: no key in any committed file or
command line, vLLM reachable only through the proxy, non-root containers, images pinned by digest."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

SERVER = Path(__file__).resolve().parents[2] / "packaging" / "server"
K8S = sorted((SERVER / "k8s").glob("*.yaml"))
DIGEST = re.compile(r"^[\w./-]+(:[\w.-]+)?@sha256:[0-9a-f]{64}$")
PROXY_DIR = "/etc/qwen3vl-proxy"


def _docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _deployment() -> dict[str, Any]:
    return _docs(SERVER / "k8s" / "deployment.yaml")[0]


def _containers() -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in _deployment()["spec"]["template"]["spec"]["containers"]}


def _compose() -> dict[str, Any]:
    return yaml.safe_load((SERVER / "docker-compose.yml").read_text())


def _write_user_secrets(server: Path) -> None:
    """What docs/team-server.md tells the user to create (contents do not matter to kustomize)."""
    (server / "secrets" / "api-key").write_text("0123456789abcdef0123456789abcdef")
    (server / "secrets" / "tls.crt").write_text("-----BEGIN CERTIFICATE-----\n")
    (server / "secrets" / "tls.key").write_text("-----BEGIN PRIVATE KEY-----\n")


@pytest.mark.parametrize("path", K8S, ids=lambda p: p.name)
def test_kubernetes_manifest_is_valid(path: Path) -> None:
    for doc in _docs(path):
        kubernetes_validate.validate(doc, "1.37.0", strict=True)


def test_an_invalid_manifest_is_caught() -> None:
    bad = _deployment()
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


def test_the_kustomization_builds_from_the_files_the_user_creates(tmp_path: Path) -> None:
    """`kubectl apply -k packaging/server/`: every file it names exists (or is one the user makes),
    and where kubectl is installed, the real build renders valid objects wired to the generated names."""
    kustomization = yaml.safe_load((SERVER / "kustomization.yaml").read_text())
    for resource in kustomization["resources"]:
        assert _docs(SERVER / resource), resource
    generated = [*kustomization["configMapGenerator"], *kustomization["secretGenerator"]]
    sources = [f.split("=", 1)[-1] for g in generated for f in g["files"]]
    assert all("literals" not in g for g in generated)  # no key written into the kustomization
    user_made = {"secrets/api-key", "secrets/tls.crt", "secrets/tls.key"}
    for source in sources:
        assert source in user_made or (SERVER / source).is_file(), source
    assert user_made <= set(sources)

    kubectl = shutil.which("kubectl")
    if kubectl is None:  # the structural checks above are what runs without kubectl
        return
    copy = tmp_path / "server"
    shutil.copytree(SERVER, copy, ignore=shutil.ignore_patterns("api-key", "tls.crt", "tls.key"))
    # without the user's files the build refuses, naming what is missing
    missing = subprocess.run([kubectl, "kustomize", str(copy)], capture_output=True, text=True, timeout=120)
    assert missing.returncode != 0 and "secrets/" in missing.stderr
    _write_user_secrets(copy)
    done = subprocess.run([kubectl, "kustomize", str(copy)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    objects = [d for d in yaml.safe_load_all(done.stdout) if d]
    for obj in objects:
        kubernetes_validate.validate(obj, "1.37.0", strict=True)
    names = {(o["kind"], o["metadata"]["name"]) for o in objects}
    secrets = sorted(n for k, n in names if k == "Secret")
    config_maps = sorted(n for k, n in names if k == "ConfigMap")
    dep = next(o for o in objects if o["kind"] == "Deployment")
    volumes = {v["name"]: v for v in dep["spec"]["template"]["spec"]["volumes"]}
    projected = {
        (next(iter(s)), s[next(iter(s))]["name"]) for s in volumes["proxy-config"]["projected"]["sources"]
    }
    assert volumes["api-key"]["secret"]["secretName"] in secrets
    assert {n for k, n in projected if k == "secret"} == set(secrets)
    assert {n for k, n in projected if k == "configMap"} <= set(config_maps)
    tls = next(o for o in objects if o["kind"] == "Secret" and o["type"] == "kubernetes.io/tls")
    assert set(tls["data"]) == {"tls.crt", "tls.key"}


def test_no_committed_manifest_holds_a_secret() -> None:
    """`kubectl apply` of the folder once overwrote the real key with an example `change-me`."""
    applied = [*K8S, SERVER / "kustomization.yaml", SERVER / "docker-compose.yml"]
    for path in applied:
        text = path.read_text()
        assert "change-me" not in text, path
        for doc in _docs(path):
            assert doc.get("kind") != "Secret", f"{path.name} commits a Secret"
    # the files the user makes there stay out of git: everything is ignored but these two
    ignore = (SERVER / "secrets" / ".gitignore").read_text().split("\n")
    rules = [line for line in ignore if line and not line.startswith("#")]
    assert rules == ["*", "!.gitignore", "!README.md"]


def test_vllm_is_reachable_only_through_the_proxy() -> None:
    containers = _containers()
    vllm_cmd = " ".join([*containers["vllm"].get("command", []), *containers["vllm"].get("args", [])])
    assert "--host 127.0.0.1" in vllm_cmd and "0.0.0.0" not in vllm_cmd
    assert "--enable-chunked-prefill" in vllm_cmd
    assert not containers["vllm"].get("ports")
    proxy_ports = {p["containerPort"] for p in containers["proxy"]["ports"]}
    assert proxy_ports == {8443, 9090}

    service = _docs(SERVER / "k8s" / "service.yaml")[0]
    assert [p["targetPort"] for p in service["spec"]["ports"]] == ["https"]

    policy = _docs(SERVER / "k8s" / "networkpolicy.yaml")[0]
    labels = _deployment()["spec"]["template"]["metadata"]["labels"]
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= labels.items()
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    allowed = {p["port"] for rule in policy["spec"]["ingress"] for p in rule["ports"]}
    assert allowed == {8443, 9090}
    metrics_rule = next(r for r in policy["spec"]["ingress"] if r["ports"][0]["port"] == 9090)
    assert metrics_rule["from"], "the metrics port is open to the monitoring namespace only"
    annotations = _deployment()["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == "9090"


def test_probes_reach_health() -> None:
    containers = _containers()
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert "127.0.0.1:8000/health" in " ".join(containers["vllm"][probe]["exec"]["command"])
    assert containers["proxy"]["readinessProbe"]["httpGet"] == {"path": "/health", "port": "metrics"}


def test_keys_come_from_files_never_from_arguments_or_the_pod_spec() -> None:
    containers = _containers()
    for container in containers.values():
        assert "--api-key" not in " ".join([*container.get("command", []), *container.get("args", [])])
        for env in container.get("env", []):
            assert "KEY" not in env["name"] or env["name"] == "QWEN3VL_PROXY_KEY_FILE", env
    vllm_script = containers["vllm"]["args"][0]
    assert 'VLLM_API_KEY="$(cat /etc/qwen3vl/api-key/api-key)"' in vllm_script
    mounts = {m["name"]: m["mountPath"] for m in containers["vllm"]["volumeMounts"]}
    assert mounts["api-key"] == "/etc/qwen3vl/api-key"
    # the proxy finds everything where nginx.conf and its environment say
    proxy = containers["proxy"]
    assert proxy["args"][proxy["args"].index("-c") + 1] == f"{PROXY_DIR}/nginx.conf"
    key_file = next(e["value"] for e in proxy["env"] if e["name"] == "QWEN3VL_PROXY_KEY_FILE")
    volumes = {v["name"]: v for v in _deployment()["spec"]["template"]["spec"]["volumes"]}
    files = {f"{PROXY_DIR}/{i['path']}" for s in volumes["proxy-config"]["projected"]["sources"] for i in s.get("secret", {}).get("items", [])}  # fmt: skip
    assert key_file in files
    conf = (SERVER / "proxy" / "nginx.conf").read_text()
    for relative in re.findall(r"ssl_certificate(?:_key)? (\S+);", conf):
        assert f"{PROXY_DIR}/{relative}" in files


def test_containers_run_unprivileged() -> None:
    pod = _deployment()["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["automountServiceAccountToken"] is False
    for name, container in _containers().items():
        ctx = container["securityContext"]
        assert ctx["runAsUser"] > 0, name
        assert ctx["allowPrivilegeEscalation"] is False, name
        assert ctx["readOnlyRootFilesystem"] is True, name
        assert ctx["capabilities"]["drop"] == ["ALL"], name


def test_images_are_pinned_by_digest() -> None:
    images = [c["image"] for c in _containers().values()]
    images += [s["image"] for s in _compose()["services"].values()]
    for image in images:
        assert DIGEST.match(image), image


def test_compose_keeps_the_same_promises() -> None:
    services = _compose()["services"]
    vllm, proxy = services["vllm"], services["proxy"]
    command = " ".join(vllm["command"])
    assert "--api-key" not in command and "--host 127.0.0.1" in command
    assert 'VLLM_API_KEY="$$(cat /run/secrets/api_key)"' in command  # $$: compose's escape for $
    assert vllm["network_mode"] == "service:proxy" and "ports" not in vllm
    assert proxy["ports"] == ["8443:8443"]
    assert [n for n, s in services.items() if "ports" in s] == ["proxy"]
    assert proxy["environment"]["QWEN3VL_PROXY_KEY_FILE"] == "/run/secrets/api_key"
    mounted = {v.split(":")[1] for v in proxy["volumes"]}
    assert {f"{PROXY_DIR}/nginx.conf", f"{PROXY_DIR}/auth.js", f"{PROXY_DIR}/tls/tls.crt"} <= mounted
    assert _compose()["secrets"]["api_key"] == {"file": "./secrets/api-key"}
    for name in ("vllm", "proxy"):
        service = services[name]
        assert service["user"].split(":")[0] not in ("0", "root"), name
        assert service["cap_drop"] == ["ALL"] and "no-new-privileges:true" in service["security_opt"], name
        assert service["read_only"] is True, name
    # the one root step: chown of the fresh model volume, with that one capability and no network
    owner = services["models-owner"]
    assert owner["cap_add"] == ["CHOWN"] and owner["network_mode"] == "none"


def test_hpa_metrics_are_the_ones_the_adapter_exposes() -> None:
    hpa = _docs(SERVER / "k8s" / "hpa.yaml")[0]
    wanted = {m["pods"]["metric"]["name"] for m in hpa["spec"]["metrics"]}
    cm = _docs(SERVER / "k8s" / "prometheus-adapter-rules.yaml")[0]
    rules = yaml.safe_load(cm["data"]["config.yaml"])["rules"]
    exposed = {r["name"]["as"] for r in rules}
    assert wanted <= exposed
    assert any("vllm:num_requests_waiting" in r["seriesQuery"] for r in rules)
