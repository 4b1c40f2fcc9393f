"""PLog's own chart (charts/plog, issue 21): serve and worker sharing the state,
least-privilege RBAC, the reaper CronJob, secrets only from Secrets, an Ingress.
Every manifest of every value set validates strictly against Kubernetes 1.33."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.charts.values import DIGEST, HOSTILE, merged
from tests.llm.optional import require

require("helm_python")
require("kubernetes_validate")

from plog_ci.deploy.charts import plog_chart_path  # noqa: E402
from testing.helm_charts import HelmError, Rendered, lint, render  # noqa: E402

CHART = plog_chart_path()
BASE: dict[str, Any] = {
    "image": {"repository": "registry.example.com/plog"},
    "secrets": {"existingSecret": "plog-secrets"},
}
JOB_ROLE = "plog-plog-job"
NAMESPACES_ROLE = "plog-plog-namespaces"
MANAGE = ["get", "list", "watch", "create", "update", "patch", "delete"]
READ = ["get", "list", "watch"]


def chart(extra: dict[str, Any] | None = None) -> Rendered:
    return render(CHART, merged(BASE, extra or {}), name="plog", namespace="plog")


def pod_spec(rendered: Rendered, name: str = "plog") -> dict[str, Any]:
    return dict(rendered.get("Deployment", name)["spec"]["template"]["spec"])


def containers(rendered: Rendered, name: str = "plog") -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in pod_spec(rendered, name)["containers"]}


def env(box: dict[str, Any]) -> dict[str, Any]:
    """name -> value, or the valueFrom mapping."""
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in box["env"]}


def secret_ref(secret: str, key: str, optional: bool) -> dict[str, Any]:
    return {"secretKeyRef": {"name": secret, "key": key, "optional": optional}}


def rules(rendered: Rendered, role: str) -> dict[tuple[str, str], list[str]]:
    """(apiGroup, resource) -> verbs of a ClusterRole."""
    out: dict[tuple[str, str], list[str]] = {}
    for rule in rendered.get("ClusterRole", role)["rules"]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                out[(group, resource)] = rule["verbs"]
    return out


def test_lint_is_clean() -> None:
    assert lint(CHART) == []
    assert lint(CHART, BASE) == []
    assert lint(CHART, merged(BASE, {"layout": "split", "ingress": {"enabled": True}})) == []


def test_defaults_one_pod_runs_serve_and_worker_on_one_state_volume() -> None:
    rendered = chart()
    assert rendered.names() == {
        ("Deployment", "plog"),
        ("Service", "plog"),
        ("Service", "plog-capture"),
        ("PersistentVolumeClaim", "plog-state"),
        ("ServiceAccount", "plog"),
        ("ClusterRole", NAMESPACES_ROLE),
        ("ClusterRoleBinding", NAMESPACES_ROLE),
        ("ClusterRole", JOB_ROLE),
        ("CronJob", "plog-reaper"),
        ("ValidatingAdmissionPolicy", "plog-plog-guard"),
        ("ValidatingAdmissionPolicyBinding", "plog-plog-guard"),
    }
    deployment = rendered.get("Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}  # RWO + SQLite
    boxes = containers(rendered)
    assert set(boxes) == {"serve", "worker"}
    serve, worker = boxes["serve"], boxes["worker"]
    assert serve["image"] == worker["image"] == "registry.example.com/plog:0.1.0"
    assert serve["command"] == worker["command"] == ["plog"]
    assert serve["args"] == [
        "serve", "--host", "0.0.0.0", "--port", "8787", "--threads", "8", "--max-streams", "64",
    ]  # fmt: skip
    assert worker["args"] == ["worker", "--lease", "30"]
    assert serve["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    for box in (serve, worker):
        assert {"name": "state", "mountPath": "/var/lib/plog"} in box["volumeMounts"]
        assert env(box)["PLOG_HOME"] == "/var/lib/plog"
        assert env(box)["PLOG_FORGE"] == "github"
        assert box["securityContext"]["readOnlyRootFilesystem"] is True
    volumes = {v["name"]: v for v in pod_spec(rendered)["volumes"]}
    assert volumes["state"]["persistentVolumeClaim"] == {"claimName": "plog-state"}
    pvc = rendered.get("PersistentVolumeClaim")
    assert pvc["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert pvc["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert pod_spec(rendered)["securityContext"]["runAsNonRoot"] is True


def test_each_container_gets_only_its_own_secrets_and_the_worker_alone_the_api_token() -> None:
    rendered = chart()
    serve, worker = containers(rendered)["serve"], containers(rendered)["worker"]
    assert env(serve)["PLOG_WEBHOOK_SECRET"] == secret_ref(
        "plog-secrets", "PLOG_WEBHOOK_SECRET", False
    )
    assert env(serve)["PLOG_DASHBOARD_TOKEN"] == secret_ref(
        "plog-secrets", "PLOG_DASHBOARD_TOKEN", True
    )
    assert env(worker)["PLOG_GITHUB_TOKEN"] == secret_ref("plog-secrets", "PLOG_GITHUB_TOKEN", True)
    assert env(worker)["PLOG_GITEA_TOKEN"] == secret_ref("plog-secrets", "PLOG_GITEA_TOKEN", True)
    assert not {"PLOG_GITHUB_TOKEN", "PLOG_GITEA_TOKEN"} & set(env(serve))
    assert not {"PLOG_WEBHOOK_SECRET", "PLOG_DASHBOARD_TOKEN"} & set(env(worker))
    spec = pod_spec(rendered)
    assert spec["automountServiceAccountToken"] is False
    assert spec["serviceAccountName"] == "plog"
    token = "/var/run/secrets/kubernetes.io/serviceaccount"
    assert [m["mountPath"] for m in worker["volumeMounts"]][-1] == token
    assert token not in [m["mountPath"] for m in serve["volumeMounts"]]
    assert env(worker)["PLOG_KUBE_JOB_ROLE"] == JOB_ROLE
    assert env(worker)["PLOG_KUBE_SERVICE_ACCOUNT"] == "plog"
    assert env(worker)["PLOG_KUBE_SERVICE_ACCOUNT_NAMESPACE"] == "plog"


def test_the_capture_is_reachable_from_in_cluster_runners() -> None:
    rendered = chart()
    worker = containers(rendered)["worker"]
    assert env(worker)["PLOG_CAPTURE_LISTEN"] == "0.0.0.0:9090"
    assert env(worker)["PLOG_CAPTURE_ADVERTISE"] == "http://plog-capture.plog.svc:9090"
    assert {"name": "capture", "containerPort": 9090, "protocol": "TCP"} in worker["ports"]
    capture = rendered.get("Service", "plog-capture")
    pod_labels = rendered.get("Deployment")["spec"]["template"]["metadata"]["labels"]
    assert capture["spec"]["selector"].items() <= pod_labels.items()
    assert capture["spec"]["ports"] == [
        {"name": "capture", "port": 9090, "targetPort": "capture", "protocol": "TCP"}
    ]
    http = rendered.get("Service", "plog")
    assert http["spec"]["selector"].items() <= pod_labels.items()
    assert http["spec"]["ports"][0]["targetPort"] == "http"


def test_rbac_is_least_privilege_with_no_wildcard() -> None:
    for values in ({}, {"rbac": {"jobAccess": "cluster"}}):
        rendered = chart(values)
        for kind in ("ClusterRole", "Role"):
            for role in rendered.all(kind):
                assert "*" not in json.dumps(role["rules"])
    rendered = chart()
    assert rules(rendered, NAMESPACES_ROLE) == {
        ("", "namespaces"): ["get", "list", "create", "delete", "patch"],
        ("rbac.authorization.k8s.io", "rolebindings"): ["create"],
        ("rbac.authorization.k8s.io", "clusterroles"): ["bind"],
    }
    (bind,) = [
        r for r in rendered.get("ClusterRole", NAMESPACES_ROLE)["rules"] if r["verbs"] == ["bind"]
    ]
    assert bind["resourceNames"] == [JOB_ROLE]  # it may bind its job role, no other
    assert rules(rendered, JOB_ROLE) == {
        ("apps", "deployments"): MANAGE,
        ("apps", "replicasets"): READ,
        ("", "services"): MANAGE,
        ("", "configmaps"): MANAGE,
        ("", "serviceaccounts"): MANAGE,
        ("", "secrets"): MANAGE,
        ("autoscaling", "horizontalpodautoscalers"): MANAGE,
        ("", "pods"): READ,
        ("", "events"): READ,
        ("", "pods/log"): ["get"],
        ("k6.io", "testruns"): ["create", "get", "list", "delete"],
    }
    subject = {"kind": "ServiceAccount", "name": "plog", "namespace": "plog"}
    (only_binding,) = rendered.all("ClusterRoleBinding")
    assert only_binding["roleRef"]["name"] == NAMESPACES_ROLE
    assert only_binding["subjects"] == [subject]
    # jobAccess cluster: the same job role, bound everywhere
    broad = chart({"rbac": {"jobAccess": "cluster"}})
    assert broad.get("ClusterRoleBinding", JOB_ROLE)["subjects"] == [subject]
    assert ("rbac.authorization.k8s.io", "rolebindings") not in rules(broad, NAMESPACES_ROLE)
    assert "PLOG_KUBE_JOB_ROLE" not in env(containers(broad)["worker"])


def test_extra_job_rules_and_no_rbac() -> None:
    ingress_rule = {
        "apiGroups": ["networking.k8s.io"],
        "resources": ["ingresses"],
        "verbs": ["get", "create", "delete"],
    }
    rendered = chart({"rbac": {"extraJobRules": [ingress_rule]}})
    assert rendered.get("ClusterRole", JOB_ROLE)["rules"][-1] == ingress_rule
    bare = chart({"rbac": {"create": False, "guard": True}, "serviceAccount": {"create": False}})
    assert not bare.kinds() & {"ClusterRole", "ClusterRoleBinding", "ServiceAccount"}
    assert "ValidatingAdmissionPolicy" not in bare.kinds()
    assert pod_spec(bare)["serviceAccountName"] == "default"


def test_the_admission_policy_guards_the_workers_namespaces() -> None:
    rendered = chart()
    policy = rendered.get("ValidatingAdmissionPolicy")["spec"]
    (condition,) = policy["matchConditions"]
    assert condition["expression"] == (
        "request.userInfo.username == 'system:serviceaccount:plog:plog'"
    )
    expressions = [v["expression"] for v in policy["validations"]]
    assert all("'app.kubernetes.io/managed-by'" in e and "== 'plog'" in e for e in expressions)
    assert f"object.roleRef.name == '{JOB_ROLE}'" in expressions[2]
    binding = rendered.get("ValidatingAdmissionPolicyBinding")["spec"]
    assert binding == {"policyName": "plog-plog-guard", "validationActions": ["Deny"]}
    assert "ValidatingAdmissionPolicy" not in chart({"rbac": {"guard": False}}).kinds()


def test_the_reaper_cron_job() -> None:
    rendered = chart()
    cron = rendered.get("CronJob")["spec"]
    assert cron["schedule"] == "*/15 * * * *"
    assert cron["concurrencyPolicy"] == "Forbid"
    pod = cron["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "plog"  # the worker's
    (reaper,) = pod["containers"]
    assert reaper["command"] == ["plog"] and reaper["args"] == ["cluster", "reap"]
    assert "state" not in [v["name"] for v in pod["volumes"]]  # RWO: not on this node
    hourly = chart({"reaper": {"schedule": "@hourly"}})
    assert hourly.get("CronJob")["spec"]["schedule"] == "@hourly"
    assert "CronJob" not in chart({"reaper": {"enabled": False}}).kinds()


def test_secrets_come_only_from_secrets() -> None:
    keys = {"webhookSecret": "hook", "githubToken": "gh"}
    rendered = chart({"secrets": {"existingSecret": "forge-creds", "keys": keys}})
    assert "Secret" not in rendered.kinds()
    boxes = containers(rendered)
    assert env(boxes["serve"])["PLOG_WEBHOOK_SECRET"] == secret_ref("forge-creds", "hook", False)
    assert env(boxes["worker"])["PLOG_GITHUB_TOKEN"] == secret_ref("forge-creds", "gh", True)
    # values passed to the chart go into a Secret of its own, never into the pods
    given = {"webhookSecret": "s3cr3t-hook-" + HOSTILE, "githubToken": "ghp_chartvalue"}
    made = render(
        CHART,
        {"image": BASE["image"], "secrets": {"values": given}},
        name="plog",
        namespace="plog",
    )
    secret = made.get("Secret", "plog-secrets")
    assert secret["stringData"] == {
        "PLOG_WEBHOOK_SECRET": given["webhookSecret"],
        "PLOG_GITHUB_TOKEN": "ghp_chartvalue",
    }
    text = json.dumps([d for d in made if d["kind"] != "Secret"])
    assert "s3cr3t-hook" not in text and "ghp_chartvalue" not in text
    serve = containers(made)["serve"]
    assert env(serve)["PLOG_WEBHOOK_SECRET"] == secret_ref(
        "plog-secrets", "PLOG_WEBHOOK_SECRET", False
    )


def test_the_webhook_needs_a_secret_unless_it_is_off() -> None:
    with pytest.raises(HelmError, match=r"secrets\.existingSecret"):
        render(CHART, {"image": BASE["image"]}, name="plog", namespace="plog")
    dashboard = render(
        CHART, {"image": BASE["image"], "serve": {"webhook": False}}, name="plog", namespace="plog"
    )
    serve = containers(dashboard)["serve"]
    assert serve["args"][-1] == "--no-webhook"
    assert "PLOG_WEBHOOK_SECRET" not in env(serve)


def test_ingress_and_the_dashboard_url() -> None:
    rendered = chart(
        {
            "ingress": {
                "enabled": True,
                "className": "traefik",
                "host": "plog.example.org",
                "tlsSecretName": "plog-tls",
                "annotations": {"example.com/note": HOSTILE},
            }
        }
    )
    ingress = rendered.get("Ingress")
    assert ingress["apiVersion"] == "networking.k8s.io/v1"
    assert ingress["spec"]["ingressClassName"] == "traefik"
    assert ingress["spec"]["tls"] == [{"hosts": ["plog.example.org"], "secretName": "plog-tls"}]
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == "plog.example.org"
    assert rule["http"]["paths"][0]["backend"] == {
        "service": {"name": "plog", "port": {"name": "http"}}
    }
    assert ingress["metadata"]["annotations"] == {"example.com/note": HOSTILE}
    for box in containers(rendered).values():
        assert env(box)["PLOG_DASHBOARD_URL"] == "https://plog.example.org"
    explicit = chart({"dashboardUrl": "https://ci.example.org/plog"})
    assert env(containers(explicit)["worker"])["PLOG_DASHBOARD_URL"] == (
        "https://ci.example.org/plog"
    )
    assert "Ingress" not in explicit.kinds()


def test_split_layout_pins_workers_to_the_serve_node() -> None:
    rendered = chart({"layout": "split"})
    serve_pod, worker_pod = pod_spec(rendered, "plog-serve"), pod_spec(rendered, "plog-worker")
    assert [c["name"] for c in serve_pod["containers"]] == ["serve"]
    assert [c["name"] for c in worker_pod["containers"]] == ["worker"]
    assert serve_pod["automountServiceAccountToken"] is False
    assert "serviceAccountName" not in serve_pod
    (term,) = worker_pod["affinity"]["podAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    serve_labels = rendered.get("Deployment", "plog-serve")["spec"]["template"]["metadata"]
    assert term["labelSelector"]["matchLabels"].items() <= serve_labels["labels"].items()
    worker = containers(rendered, "plog-worker")["worker"]
    assert env(worker)["PLOG_CAPTURE_ADVERTISE"] == "http://plog-capture.plog.svc:9090"
    capture = rendered.get("Service", "plog-capture")["spec"]["selector"]
    assert capture["app.kubernetes.io/component"] == "worker"
    # several workers: each advertises its own pod, no shared capture Service
    several = chart({"layout": "split", "worker": {"replicas": 3}})
    assert several.get("Deployment", "plog-worker")["spec"]["replicas"] == 3
    worker = containers(several, "plog-worker")["worker"]
    assert env(worker)["POD_IP"] == {"fieldRef": {"fieldPath": "status.podIP"}}
    assert env(worker)["PLOG_CAPTURE_ADVERTISE"] == "http://$(POD_IP):9090"
    assert ("Service", "plog-capture") not in several.names()


def test_image_by_digest_forge_and_allow_lists_with_hostile_values() -> None:
    rendered = chart(
        {
            "image": {"digest": DIGEST, "tag": "ignored"},
            "forge": {"kind": "gitea", "apiUrl": "https://gitea.example.com/api/v1"},
            "allow": {
                "repos": ["https://gitea.example.com/team/*", "/srv/git/*.git"],
                "forgeHosts": ["gitea.example.com:3000"],
                "nets": ["10.0.0.0/8"],
                "ssh": True,
            },
            "env": {"EXTRA": HOSTILE},
            "serve": {"extraArgs": ["--allow-repo", HOSTILE]},
            "podAnnotations": {"example.com/x": HOSTILE},
        }
    )
    serve, worker = containers(rendered)["serve"], containers(rendered)["worker"]
    assert worker["image"] == f"registry.example.com/plog@{DIGEST}"
    assert env(worker)["PLOG_FORGE"] == "gitea"
    assert env(worker)["PLOG_FORGE_API_URL"] == "https://gitea.example.com/api/v1"
    assert env(worker)["PLOG_ALLOW_REPOS"] == "https://gitea.example.com/team/* /srv/git/*.git"
    assert env(worker)["PLOG_ALLOW_FORGE_HOSTS"] == "gitea.example.com:3000"
    assert env(worker)["PLOG_ALLOW_NETS"] == "10.0.0.0/8"
    assert env(worker)["PLOG_ALLOW_SSH"] == "1"
    assert env(serve)["EXTRA"] == env(worker)["EXTRA"] == HOSTILE
    assert serve["args"][-2:] == ["--allow-repo", HOSTILE]
    annotations = rendered.get("Deployment")["spec"]["template"]["metadata"]["annotations"]
    assert annotations == {"example.com/x": HOSTILE}


def test_without_persistence_the_state_is_an_empty_dir() -> None:
    rendered = chart({"persistence": {"enabled": False}})
    assert "PersistentVolumeClaim" not in rendered.kinds()
    volumes = {v["name"]: v for v in pod_spec(rendered)["volumes"]}
    assert volumes["state"] == {"name": "state", "emptyDir": {}}
    claimed = chart({"persistence": {"existingClaim": "plog-data"}})
    assert "PersistentVolumeClaim" not in claimed.kinds()
    volumes = {v["name"]: v for v in pod_spec(claimed)["volumes"]}
    assert volumes["state"]["persistentVolumeClaim"] == {"claimName": "plog-data"}


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ({"layuot": "pod"}, "'layuot' not allowed"),
        ({"layout": "both"}, "at '/layout'"),
        ({"forge": {"kind": "gitea"}}, "at '/forge/apiUrl'"),  # Gitea needs its API URL
        ({"forge": {"apiUrl": "https://x.example.com $(id)"}}, "at '/forge/apiUrl'"),
        ({"dashboardUrl": "javascript:alert(1)"}, "at '/dashboardUrl'"),
        ({"allow": {"repos": ["https://a/* https://b/*"]}}, "at '/allow/repos/0'"),
        ({"allow": {"nets": ["everything"]}}, "at '/allow/nets/0'"),
        ({"secrets": {"existingSecret": HOSTILE}}, "at '/secrets/existingSecret'"),
        ({"secrets": {"keys": {"webhookSecret": "a/b"}}}, "at '/secrets/keys/webhookSecret'"),
        ({"secrets": {"values": {"password": "x"}}}, "'password' not allowed"),
        ({"env": {"PLOG_HOME": "/elsewhere"}}, "propertyName 'PLOG_HOME'"),
        ({"env": {"PLOG_GITHUB_TOKEN": "x"}}, "propertyName 'PLOG_GITHUB_TOKEN'"),
        ({"capture": {"port": 0}}, "at '/capture/port'"),
        ({"worker": {"lease": 1}}, "at '/worker/lease'"),
        ({"reaper": {"schedule": "every 15 minutes"}}, "at '/reaper/schedule'"),
        ({"rbac": {"jobAccess": "everything"}}, "at '/rbac/jobAccess'"),
        (
            {
                "rbac": {
                    "extraJobRules": [{"apiGroups": ["*"], "resources": ["x"], "verbs": ["get"]}]
                }
            },
            "at '/rbac/extraJobRules/0/apiGroups/0'",
        ),
        (
            {
                "rbac": {
                    "extraJobRules": [{"apiGroups": [""], "resources": ["*"], "verbs": ["get"]}]
                }
            },
            "at '/rbac/extraJobRules/0/resources/0'",
        ),
        (
            {"rbac": {"extraJobRules": [{"apiGroups": [""], "resources": ["x"], "verbs": ["*"]}]}},
            "at '/rbac/extraJobRules/0/verbs/0'",
        ),
        (
            {
                "rbac": {
                    "extraJobRules": [
                        {"apiGroups": [""], "resources": ["x"], "verbs": ["escalate"]}
                    ]
                }
            },
            "at '/rbac/extraJobRules/0/verbs/0'",
        ),
        ({"persistence": {"accessMode": "ReadOnlyMany"}}, "at '/persistence/accessMode'"),
        ({"persistence": {"size": "lots"}}, "at '/persistence/size'"),
        ({"ingress": {"host": "Plog.Example.com/x"}}, "at '/ingress/host'"),
        ({"image": {"digest": "sha256:short"}}, "at '/image/digest'"),
        ({"podLabels": {"app.kubernetes.io/component": "x"}}, "propertyName"),
    ],
)
def test_bad_values_fail_the_render_with_the_schema_error(
    values: dict[str, Any], reason: str
) -> None:
    with pytest.raises(HelmError, match="schema") as failed:
        chart(values)
    assert reason in str(failed.value)


def readme_sets() -> list[str]:
    """The --set flags of the README's "Installing PLog on K3s" command, as printed."""
    import re
    import shlex
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("**Installing PLog on K3s**") :]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block is not None
    command = next(c for c in block[1].split("\n\n") if "helm install plog" in c)
    words = [w for w in shlex.split(command.replace("\\\n", " "), comments=True)]
    install = words.index("helm")
    assert words[install : install + 3] == ["helm", "install", "plog"]
    return [words[i + 1] for i, w in enumerate(words) if w == "--set"]


def test_the_readme_install_command_renders() -> None:
    import helm_python as helm

    values: dict[str, Any] = {}
    sets = readme_sets()
    assert "secrets.existingSecret=plog-secrets" in sets and len(sets) == 8
    for expression in sets:
        values = merged(values, helm.parse_set_string(expression))
    rendered = render(CHART, values, name="plog", namespace="plog")
    assert {"Deployment", "Ingress", "CronJob", "ValidatingAdmissionPolicy"} <= rendered.kinds()
    worker = containers(rendered)["worker"]
    assert env(worker)["PLOG_ALLOW_REPOS"] == "https://github.com/myorg/*"
    assert env(worker)["PLOG_GITHUB_TOKEN"] == secret_ref("plog-secrets", "PLOG_GITHUB_TOKEN", True)
    assert rendered.get("Ingress")["spec"]["ingressClassName"] == "traefik"
