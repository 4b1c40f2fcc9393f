"""A chart nobody here wrote (issue 21, a new user's finding): its objects carry only
their own labels (no app.kubernetes.io/instance), its Deployment and Service have
names of their own. PLog finds the release's pods and Services by what Helm itself
writes on every object (the meta.helm.sh/release-name annotation) and the
Deployment's own selector: the failed rollout names the pod's reason, events and
log lines; the only Service is the one reached."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from plog_ci.config.helm import HelmConfig
from plog_ci.errors import ServiceError
from testing.fake_kube import FakeCluster, Rollout
from tests.deploy.helm_jobs import (  # noqa: F401 - fixtures, used by their names
    NAMESPACE,
    Services,
    api_fixture,
    fake_fixture,
    kube_env_fixture,
    plog_namespaces,
    services_fixture,
    start,
)

CHART = {
    "Chart.yaml": "apiVersion: v2\nname: widgets\nversion: 0.1.0\n",
    "values.yaml": "image: {repository: '', digest: ''}\n",
    "templates/app.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: widgets-api-{{ .Release.Name }}
  labels: {app: widgets, rel: {{ .Release.Name | quote }}}
spec:
  replicas: 1
  selector:
    matchLabels: {app: widgets, rel: {{ .Release.Name | quote }}}
  template:
    metadata:
      labels: {app: widgets, rel: {{ .Release.Name | quote }}}
    spec:
      containers:
        - name: api
          image: "{{ .Values.image.repository }}@{{ .Values.image.digest }}"
          ports: [{name: web, containerPort: 9000}]
---
apiVersion: v1
kind: Service
metadata:
  name: {{ .Release.Name }}-web
  labels: {app: widgets}
spec:
  selector: {app: widgets, rel: {{ .Release.Name | quote }}}
  ports: [{name: web, port: 9000, targetPort: web}]
""",
}


def _tree(root: Path) -> Path:
    for name, text in CHART.items():
        path = root / "deploy" / "widgets" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def _helm(services: Services) -> HelmConfig:
    url = f"http://127.0.0.1:{services.port}/{{namespace}}/{{release}}"
    return HelmConfig(chart="deploy/widgets", port=9000, url=url, timeout_s=8)


@pytest.mark.usefixtures("kube_env")
def test_a_crash_loop_in_a_chart_without_helms_labels_is_reported_with_its_pod(
    api: Any, fake: FakeCluster, services: Services, tmp_path: Path
) -> None:
    fake.set_rollout(Rollout("crash_loop", logs=("boot", "panic: no WIDGETS_DB"), exit_code=2))
    tree = _tree(tmp_path / "tree")
    with pytest.raises(ServiceError) as failed, ExitStack() as stack:
        start(_helm(services), tree, stack, 1, "head")
    text = failed.value.message
    assert "pod widgets-api-head-" in text and "CrashLoopBackOff" in text
    assert "panic: no WIDGETS_DB" in text  # the container's last log lines
    assert "has no pods" not in text
    assert plog_namespaces(api) == []


@pytest.mark.usefixtures("kube_env")
def test_the_releases_only_service_is_found_by_helms_annotation(
    api: Any, fake: FakeCluster, services: Services, tmp_path: Path
) -> None:
    def ready(deployment: dict[str, Any]) -> None:
        meta = deployment["metadata"]
        services.ready.add(f"/{meta['namespace']}/{meta['labels']['rel']}")

    fake.on_ready(ready)
    tree = _tree(tmp_path / "tree")
    with ExitStack() as stack:
        head = start(_helm(services), tree, stack, 1, "head")
        base = start(_helm(services), tree, stack, 1, "base")
        assert head.wait_healthy() >= 0 and base.wait_healthy() >= 0
        pods = api.release_pods(NAMESPACE, "head")
        assert [p.name.rsplit("-", 2)[0] for p in pods] == ["widgets-api-head"]
        assert [s.name for s in api.release_services(NAMESPACE, "base")] == ["base-web"]
    assert plog_namespaces(api) == []
