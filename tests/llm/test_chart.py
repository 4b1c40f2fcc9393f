"""The serving side (issue 20 item 3): the vLLM Helm chart renders with Helm's own
engine (helm-python-sdk binds Helm's Go SDK: no helm binary), passes helm lint, and
every manifest validates against Kubernetes' schemas (kubernetes-validate); the
chart serves the same flags as llm/serve/serve.sh."""

from __future__ import annotations

import itertools
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.llm.optional import require

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "vllm"
SERVE = ROOT / "llm" / "serve" / "serve.sh"

helm = require("helm_python")
require("kubernetes_validate")

from testing import helm_charts  # noqa: E402


def render(values: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """The chart's manifests by kind, each validated against Kubernetes 1.33 (strict:
    no unknown field)."""
    rendered = helm_charts.render(CHART, values, name="plog-llm", namespace="plog")
    return {doc["kind"]: doc for doc in rendered}


def container(manifests: dict[str, dict[str, Any]]) -> dict[str, Any]:
    spec = manifests["Deployment"]["spec"]["template"]["spec"]
    (vllm,) = spec["containers"]
    return dict(vllm)


def test_the_chart_lints_clean() -> None:
    assert helm_charts.lint(CHART) == []  # info only (no icon)


def test_defaults_serve_gpt_oss_with_the_adapter_on_a_gpu_node() -> None:
    manifests = render()
    assert set(manifests) == {"Deployment", "Service", "PersistentVolumeClaim"}
    deployment = manifests["Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    vllm = container(manifests)
    assert deployment["spec"]["strategy"]["type"] == "Recreate"
    assert vllm["image"] == "vllm/vllm-openai:v0.17.0"
    assert vllm["command"] == ["vllm", "serve"]
    assert vllm["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod[
        "tolerations"
    ]
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert vllm[probe]["httpGet"] == {"path": "/health", "port": "http"}
    args = vllm["args"]
    assert args[0] == "openai/gpt-oss-20b"
    assert args[args.index("--lora-modules") + 1] == "plog=/adapters/plog"
    assert args[args.index("--structured-outputs-config") + 1] == '{"backend":"xgrammar"}'
    mounts = {m["name"]: m for m in vllm["volumeMounts"]}
    assert mounts["adapters"]["mountPath"] == "/adapters/plog" and mounts["adapters"]["readOnly"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["adapters"]["persistentVolumeClaim"]["claimName"] == "plog-adapter"
    cache = manifests["PersistentVolumeClaim"]["metadata"]["name"]
    assert volumes["model-cache"]["persistentVolumeClaim"]["claimName"] == cache
    assert manifests["Service"]["spec"]["ports"][0]["port"] == 8000


def test_the_chart_serves_the_flags_of_the_serve_script() -> None:
    env = {**os.environ, "PLOG_LLM_ADAPTER": "/adapters/plog", "HOST": "0.0.0.0", "PORT": "8000"}
    script = subprocess.run(
        ["bash", str(SERVE), "--print"], env=env, capture_output=True, text=True, check=True
    ).stdout.split("\n")[:-1]
    assert script[:2] == ["vllm", "serve"]
    chart = container(render())["args"]
    pairs = {a: b for a, b in itertools.pairwise(script[2:]) if a.startswith("--")}
    chart_pairs = {a: b for a, b in itertools.pairwise(chart) if a.startswith("--")}
    assert set(pairs) == set(chart_pairs)  # the same flags
    pairs.pop("--structured-outputs-config")  # JSON spelt with or without spaces
    chart_pairs.pop("--structured-outputs-config")
    assert pairs == chart_pairs | {"--gpu-memory-utilization": "0.90"}


def test_adapter_from_an_init_container_and_without_adapter() -> None:
    image = {"source": "image", "image": {"repository": "reg.local/adapter", "tag": "7"}}
    manifests = render({"adapter": image, "gpus": 2, "nodeSelector": {"gpu": "h200"}})
    pod = manifests["Deployment"]["spec"]["template"]["spec"]
    (init,) = pod["initContainers"]
    assert init["image"] == "reg.local/adapter:7"
    assert init["command"][-2:] == ["/adapter", "/adapters/plog"]
    assert {v["name"]: v for v in pod["volumes"]}["adapters"] == {
        "name": "adapters",
        "emptyDir": {},
    }
    assert container(manifests)["resources"]["limits"]["nvidia.com/gpu"] == "2"
    assert pod["nodeSelector"] == {"gpu": "h200"}

    bare = render({"adapter": {"enabled": False}, "modelCache": {"existingClaim": "weights"}})
    args = container(bare)["args"]
    assert "--enable-lora" not in args and "--lora-modules" not in args
    assert "PersistentVolumeClaim" not in bare  # the existing claim is used, none created
    volumes = {v["name"]: v for v in bare["Deployment"]["spec"]["template"]["spec"]["volumes"]}
    assert volumes["model-cache"]["persistentVolumeClaim"]["claimName"] == "weights"
    assert "adapters" not in volumes


def test_hostile_values_stay_single_arguments() -> None:
    hostile = 'm" --api-key leaked; $(rm -rf /) ${HOME} <script>\nalert(1)</script>'
    args = container(render({"model": {"name": hostile, "extraArgs": ["--x", hostile]}}))["args"]
    assert args[0] == hostile and args[-1] == hostile and args[-2] == "--x"
    assert "--api-key" not in args


@pytest.mark.parametrize(
    "values",
    [
        {"adapter": {"source": "s3"}},
        {"gpus": "two"},
        {"nodeselector": {"gpu": "h200"}},  # a typo is an error, not a silent default
        {"adapter": {"maxRank": 12}},  # vLLM's ranks
        {"model": {"gpuMemoryUtilization": 1.5}},
    ],
)
def test_bad_values_fail_the_render(values: dict[str, Any]) -> None:
    with pytest.raises(helm.HelmError, match=r"schema|adapter"):
        render(values)


def test_the_serve_script_refuses_a_missing_adapter(tmp_path: Path) -> None:
    env = {**os.environ, "PLOG_LLM_ADAPTER": str(tmp_path / "none")}
    proc = subprocess.run(["bash", str(SERVE)], env=env, capture_output=True, text=True)
    assert proc.returncode == 2 and "no adapter in" in proc.stderr
    env["PLOG_LLM_ADAPTER"] = ""
    printed = subprocess.run(
        ["bash", str(SERVE), "--print"], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert "--enable-lora" not in printed and "--reasoning-parser" in printed
