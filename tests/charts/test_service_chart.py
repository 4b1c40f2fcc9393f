"""PLog's generic service chart (charts/service, issue 21): rendered by Helm's own
engine with several value sets, every manifest validated strictly against the
Kubernetes 1.33 schemas, helm lint clean, bad values refused by the values schema."""

from __future__ import annotations

from typing import Any

import pytest

from tests.charts.values import DIGEST, HOSTILE, IMAGE, merged
from tests.llm.optional import require

require("helm_python")
require("kubernetes_validate")

from plog_ci.deploy.charts import service_chart_path  # noqa: E402
from testing.helm_charts import HelmError, Rendered, lint, render  # noqa: E402

CHART = service_chart_path()
BASE: dict[str, Any] = {"image": IMAGE}


def chart(extra: dict[str, Any] | None = None, name: str = "head") -> Rendered:
    return render(CHART, merged(BASE, extra or {}), name=name, namespace="plog-petstore-pr-7")


def container(rendered: Rendered) -> dict[str, Any]:
    (only,) = rendered.get("Deployment")["spec"]["template"]["spec"]["containers"]
    return dict(only)


def env_of(rendered: Rendered) -> list[dict[str, Any]]:
    return list(container(rendered)["env"])


def test_lint_is_clean() -> None:
    assert lint(CHART) == []
    assert lint(CHART, BASE) == []
    assert lint(CHART, merged(BASE, {"autoscaling": {"enabled": True}})) == []


def test_defaults_a_deployment_and_a_service_running_the_image_by_digest() -> None:
    rendered = chart()
    assert rendered.names() == {("Deployment", "head-service"), ("Service", "head-service")}
    deployment = rendered.get("Deployment")
    pod = deployment["spec"]["template"]["spec"]
    box = container(rendered)
    assert box["image"] == f"registry.example.com/team/petstore@{DIGEST}"
    assert deployment["spec"]["replicas"] == 1
    # the service reads PORT, as under PLog's podman target
    assert env_of(rendered)[:2] == [
        {"name": "PORT", "value": "8080"},
        {"name": "HOST", "value": "0.0.0.0"},
    ]
    assert box["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    assert box["readinessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    assert "livenessProbe" not in box
    assert box["resources"]["requests"] == box["resources"]["limits"]  # Guaranteed QoS
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert box["securityContext"]["allowPrivilegeEscalation"] is False
    assert box["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert pod["automountServiceAccountToken"] is False
    labels = deployment["metadata"]["labels"]
    assert labels["app.kubernetes.io/name"] == "service"
    assert labels["app.kubernetes.io/instance"] == "head"
    assert labels["app.kubernetes.io/managed-by"] == "Helm"
    assert labels["helm.sh/chart"] == "service-0.1.0"
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    service = rendered.get("Service")
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["selector"] == selector
    assert service["spec"]["ports"] == [
        {"name": "http", "port": 8080, "targetPort": "http", "protocol": "TCP"}
    ]
    assert "head-service.plog-petstore-pr-7.svc.cluster.local:8080" in rendered.notes


def test_the_image_by_tag_only_without_a_digest() -> None:
    by_tag = chart({"image": {"digest": "", "tag": "v1.2.3"}})
    assert container(by_tag)["image"] == "registry.example.com/team/petstore:v1.2.3"
    both = chart({"image": {"tag": "v1.2.3"}})
    assert container(both)["image"].endswith(f"@{DIGEST}")  # the digest wins
    with pytest.raises(HelmError, match=r"image\.digest or image\.tag is required"):
        chart({"image": {"digest": ""}})
    with pytest.raises(HelmError, match=r"image\.repository is required"):
        render(CHART, {})


def test_the_probe_follows_the_values() -> None:
    rendered = chart(
        {
            "containerPort": 9000,
            "service": {"port": 80},
            "probes": {"path": "/api/ready?full=1", "liveness": {"enabled": True}},
        }
    )
    box = container(rendered)
    assert box["readinessProbe"]["httpGet"] == {"path": "/api/ready?full=1", "port": "http"}
    assert box["livenessProbe"]["httpGet"] == {"path": "/api/ready?full=1", "port": "http"}
    assert box["livenessProbe"]["periodSeconds"] == 10
    assert box["ports"][0]["containerPort"] == 9000
    assert env_of(rendered)[0] == {"name": "PORT", "value": "9000"}
    assert rendered.get("Service")["spec"]["ports"][0]["port"] == 80


def test_node_port() -> None:
    fixed = chart({"service": {"type": "NodePort", "nodePort": 30080}})
    (port,) = fixed.get("Service")["spec"]["ports"]
    assert fixed.get("Service")["spec"]["type"] == "NodePort" and port["nodePort"] == 30080
    picked = chart({"service": {"type": "NodePort"}})
    assert "nodePort" not in picked.get("Service")["spec"]["ports"][0]


def test_autoscaling_on() -> None:
    rendered = chart(
        {
            "autoscaling": {
                "enabled": True,
                "maxReplicas": 5,
                "targetMemoryUtilizationPercentage": 70,
            }
        }
    )
    hpa = rendered.get("HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "head-service",
    }
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (1, 5)
    targets = {m["resource"]["name"]: m["resource"]["target"] for m in hpa["spec"]["metrics"]}
    assert targets == {
        "cpu": {"type": "Utilization", "averageUtilization": 80},
        "memory": {"type": "Utilization", "averageUtilization": 70},
    }
    assert "replicas" not in rendered.get("Deployment")["spec"]  # the HPA owns it


def test_service_account_scheduling_and_overrides() -> None:
    rendered = chart(
        {
            "fullnameOverride": "petstore",
            "replicaCount": 2,
            "serviceAccount": {"create": True, "annotations": {"example.com/role": "x"}},
            "nodeSelector": {"kubernetes.io/arch": "amd64"},
            "tolerations": [{"key": "perf", "operator": "Exists", "effect": "NoSchedule"}],
            "podLabels": {"team": "payments"},
            "imagePullSecrets": [{"name": "regcred"}],
            "securityContext": {"readOnlyRootFilesystem": True},
        }
    )
    assert rendered.names() == {
        ("Deployment", "petstore"),
        ("Service", "petstore"),
        ("ServiceAccount", "petstore"),
    }
    account = rendered.get("ServiceAccount")
    assert account["automountServiceAccountToken"] is False
    pod = rendered.get("Deployment")["spec"]["template"]
    assert pod["spec"]["serviceAccountName"] == "petstore"
    assert pod["spec"]["nodeSelector"] == {"kubernetes.io/arch": "amd64"}
    assert pod["spec"]["tolerations"][0]["key"] == "perf"
    assert pod["spec"]["imagePullSecrets"] == [{"name": "regcred"}]
    assert pod["metadata"]["labels"]["team"] == "payments"
    assert rendered.get("Deployment")["spec"]["replicas"] == 2
    # a read-only root keeps /tmp writable
    assert container(rendered)["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    assert pod["spec"]["volumes"] == [{"name": "tmp", "emptyDir": {}}]


def test_hostile_strings_stay_single_values() -> None:
    rendered = chart(
        {
            "env": {"GREETING": HOSTILE, "COUNT": 3},
            "args": ["--name", HOSTILE],
            "command": [HOSTILE],
            "podAnnotations": {"example.com/note": HOSTILE},
            "probes": {"path": "/h?q=$(id)&x=${HOME}"},
        }
    )
    box = container(rendered)
    assert {"name": "GREETING", "value": HOSTILE} in box["env"]
    assert {"name": "COUNT", "value": "3"} in box["env"]
    assert [e["name"] for e in box["env"]] == ["PORT", "HOST", "COUNT", "GREETING"]
    assert box["args"] == ["--name", HOSTILE] and box["command"] == [HOSTILE]
    pod = rendered.get("Deployment")["spec"]["template"]
    assert pod["metadata"]["annotations"] == {"example.com/note": HOSTILE}
    assert box["readinessProbe"]["httpGet"]["path"] == "/h?q=$(id)&x=${HOME}"


def test_env_as_a_list_of_env_vars() -> None:
    from_secret = {"secretKeyRef": {"name": "db", "key": "url"}}
    rendered = chart(
        {
            "env": [{"name": "DB_URL", "valueFrom": from_secret}, {"name": "X", "value": HOSTILE}],
            "envFrom": [{"secretRef": {"name": "app-secrets"}}],
        }
    )
    box = container(rendered)
    assert box["env"][2:] == [
        {"name": "DB_URL", "valueFrom": from_secret},
        {"name": "X", "value": HOSTILE},
    ]
    assert box["envFrom"] == [{"secretRef": {"name": "app-secrets"}}]


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        (
            {"replicacount": 2},
            "'replicacount' not allowed",
        ),  # a typo is an error, not a silent default
        ({"image": {"digest": "sha256:abc"}}, "at '/image/digest'"),
        ({"image": {"digest": "latest"}}, "at '/image/digest'"),
        ({"image": {"repository": "Registry.example.com/UPPER"}}, "at '/image/repository'"),
        (
            {"image": {"repository": "registry.example.com/app:1.0"}},
            "at '/image/repository'",
        ),  # tag in the repository
        ({"image": {"repository": "reg.example.com/app --flag=x"}}, "at '/image/repository'"),
        ({"image": {"tag": "1.0 --flag"}}, "at '/image/tag'"),
        ({"image": {"pullPolicy": "Sometimes"}}, "at '/image/pullPolicy'"),
        ({"service": {"type": "LoadBalancer"}}, "at '/service/type'"),
        ({"service": {"type": "NodePort", "nodePort": 80}}, "at '/service/nodePort'"),
        (
            {"service": {"nodePort": 30080}},
            "at '/service/type'",
        ),  # a node port on a ClusterIP Service
        ({"containerPort": 70000}, "at '/containerPort'"),
        ({"probes": {"path": "health"}}, "at '/probes/path'"),
        ({"probes": {"path": "/he alth"}}, "at '/probes/path'"),
        ({"probes": {"path": "/h\nx"}}, "at '/probes/path'"),
        ({"probes": {"readiness": {"periodSeconds": 0}}}, "at '/probes/readiness/periodSeconds'"),
        ({"probes": {"liveness": {"enable": True}}}, "'enable' not allowed"),
        ({"env": {"BAD-NAME": "x"}}, "propertyName 'BAD-NAME'"),
        ({"env": {"PORT": "1"}}, "propertyName 'PORT'"),  # PORT is the chart's
        ({"env": [{"name": "HOST", "value": "x"}]}, "at '/env/0/name'"),
        ({"env": [{"value": "x"}]}, "missing property 'name'"),
        ({"env": "A=1"}, "at '/env'"),
        ({"resources": {"limits": {"memory": "1 GB"}}}, "at '/resources/limits/memory'"),
        ({"resources": {"limits": {"cpu": "$(nproc)"}}}, "at '/resources/limits/cpu'"),
        ({"replicaCount": -1}, "at '/replicaCount'"),
        ({"nameOverride": HOSTILE}, "at '/nameOverride'"),
        ({"fullnameOverride": "Has_Upper"}, "at '/fullnameOverride'"),
        ({"podLabels": {"team": HOSTILE}}, "at '/podLabels/team'"),
        (
            {"podLabels": {"app.kubernetes.io/name": "other"}},
            "propertyName 'app.kubernetes.io/name'",
        ),  # the selector's
        ({"nodeSelector": {"bad key!": "x"}}, "propertyName 'bad key!'"),
        ({"autoscaling": {"enabled": "yes"}}, "at '/autoscaling/enabled'"),
        ({"autoscaling": {"maxReplicas": 0}}, "at '/autoscaling/maxReplicas'"),
        ({"tolerations": [{"key": "x", "operator": "Maybe"}]}, "at '/tolerations/0/operator'"),
        ({"serviceAccount": {"name": "Bad Name"}}, "at '/serviceAccount/name'"),
    ],
)
def test_bad_values_fail_the_render_with_the_schema_error(
    values: dict[str, Any], reason: str
) -> None:
    with pytest.raises(HelmError, match="schema") as failed:
        chart(values)
    assert reason in str(failed.value)
