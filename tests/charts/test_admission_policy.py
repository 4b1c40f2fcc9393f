"""The admission policy of PLog's chart (rbac.guard) decides as intended: its CEL
expressions, as rendered, evaluated on admission requests the worker would send.

A CEL evaluator (common-expression-language, cel-rust) stands in for the API server:
it runs the expressions' logic, not Kubernetes' type checker, so this proves what they
decide, not that an API server accepts them (no cluster runs here)."""

from __future__ import annotations

import os
from typing import Any

import pytest

from tests.charts.values import merged
from tests.llm.optional import require

require("helm_python")
require("kubernetes_validate")
try:
    import cel
except ImportError as exc:  # the dev extra brings it; CI installs it
    if os.environ.get("CI") == "true":
        raise
    pytest.skip(f"common-expression-language is not installed: {exc}", allow_module_level=True)

from plog_ci.deploy.charts import plog_chart_path  # noqa: E402
from testing.helm_charts import render  # noqa: E402

WORKER = "system:serviceaccount:plog:plog"
JOB_ROLE = "plog-plog-job"
PLOG = {"app.kubernetes.io/managed-by": "plog", "plog.dev/job": "42"}


def policy(extra: dict[str, Any] | None = None) -> dict[str, Any]:
    values = merged(
        {"image": {"repository": "registry.example.com/plog"}, "secrets": {"existingSecret": "s"}},
        extra or {},
    )
    rendered = render(plog_chart_path(), values, name="plog", namespace="plog")
    return dict(rendered.get("ValidatingAdmissionPolicy")["spec"])


def namespace(labels: dict[str, str] | None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "some-namespace"}
    if labels is not None:
        meta["labels"] = labels
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}


def admitted(spec: dict[str, Any], request: dict[str, Any]) -> bool:
    """What the API server would do: the policy applies when every match condition
    holds, and then admits only when every validation is true."""
    context = {
        "request": request,
        "object": request.get("object"),
        "oldObject": request.get("oldObject"),
        "namespaceObject": request.get("namespaceObject"),
    }
    if not all(cel.evaluate(c["expression"], context) for c in spec["matchConditions"]):
        return True
    return all(cel.evaluate(v["expression"], context) is True for v in spec["validations"])


def ns_request(
    operation: str, new: dict[str, Any] | None, old: dict[str, Any] | None, user: str = WORKER
) -> dict[str, Any]:
    return {
        "operation": operation,
        "userInfo": {"username": user},
        "resource": {"group": "", "version": "v1", "resource": "namespaces"},
        "object": new,
        "oldObject": old,
    }


def binding_request(namespace_labels: dict[str, str], role: str = JOB_ROLE) -> dict[str, Any]:
    binding = {"roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole"}}
    binding["roleRef"]["name"] = role
    return {
        "operation": "CREATE",
        "userInfo": {"username": WORKER},
        "resource": {
            "group": "rbac.authorization.k8s.io",
            "version": "v1",
            "resource": "rolebindings",
        },
        "object": binding,
        "oldObject": None,
        "namespaceObject": namespace(namespace_labels),
    }


@pytest.mark.parametrize(
    ("request_", "allowed"),
    [
        (ns_request("CREATE", namespace(PLOG), None), True),
        (ns_request("CREATE", namespace({"team": "x"}), None), False),
        (ns_request("CREATE", namespace(None), None), False),
        (ns_request("DELETE", None, namespace(PLOG)), True),
        (
            ns_request("DELETE", None, namespace({"kubernetes.io/metadata.name": "kube-system"})),
            False,
        ),
        (ns_request("DELETE", None, namespace(None)), False),
        (
            ns_request("UPDATE", namespace(PLOG | {"plog.dev/expires-unix": "1"}), namespace(PLOG)),
            True,
        ),
        (ns_request("UPDATE", namespace(PLOG), namespace({"team": "x"})), False),  # taking one over
        (ns_request("UPDATE", namespace({"team": "x"}), namespace(PLOG)), False),  # letting go
        # anyone else is not this policy's business
        (ns_request("DELETE", None, namespace(None), user="kubernetes-admin"), True),
        (binding_request(PLOG), True),
        (binding_request({"kubernetes.io/metadata.name": "kube-system"}), False),
        (binding_request(PLOG, role="cluster-admin"), False),
    ],
)
def test_the_worker_touches_only_plog_namespaces(request_: dict[str, Any], allowed: bool) -> None:
    assert admitted(policy(), request_) is allowed


def test_the_policy_names_the_release_service_account() -> None:
    spec = policy({"serviceAccount": {"name": "plog-runner"}})
    request = ns_request(
        "DELETE", None, namespace(None), user="system:serviceaccount:plog:plog-runner"
    )
    assert admitted(spec, request) is False
    assert admitted(spec, ns_request("DELETE", None, namespace(None))) is True
