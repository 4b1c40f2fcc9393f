"""The render helper itself (testing/helm_charts.py) catches what the chart tests rely
on: an unknown field, a wrong type, a template that fails; and plog_ci.deploy.charts
finds the charts it ships."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.llm.optional import require

require("helm_python")
kubernetes_validate = require("kubernetes_validate")

from importlib import resources  # noqa: E402

from plog_ci.deploy import charts  # noqa: E402
from plog_ci.errors import InputError  # noqa: E402
from testing.helm_charts import HelmError, lint, render  # noqa: E402

SERVICE = """apiVersion: v1
kind: Service
metadata:
  name: {{ .Release.Name }}
spec:
  ports:
    - port: {{ .Values.port }}
  {{- with .Values.extra }}
  {{ . }}: true
  {{- end }}
"""


def tiny_chart(root: Path, template: str = SERVICE) -> Path:
    chart = root / "tiny"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: tiny\nversion: 0.1.0\n")
    (chart / "values.yaml").write_text("port: 80\nextra: ''\n")
    (chart / "templates" / "service.yaml").write_text(template)
    return chart


def test_a_valid_manifest_renders(tmp_path: Path) -> None:
    rendered = render(tiny_chart(tmp_path), name="one")
    assert rendered.get("Service", "one")["spec"]["ports"] == [{"port": 80}]
    assert lint(tiny_chart(tmp_path / "again")) == []


def test_an_unknown_field_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(kubernetes_validate.ValidationError, match="surprise"):
        render(tiny_chart(tmp_path), {"extra": "surprise"})


def test_a_wrong_type_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(kubernetes_validate.ValidationError):
        render(tiny_chart(tmp_path), {"port": "eighty"})


def test_a_failing_template_is_a_helm_error(tmp_path: Path) -> None:
    chart = tiny_chart(tmp_path, '{{ fail "no such luck" }}\n')
    with pytest.raises(HelmError, match="no such luck"):
        render(chart)


def test_the_charts_are_found() -> None:
    service, plog = charts.service_chart_path(), charts.plog_chart_path()
    assert (service / "Chart.yaml").read_text().count("name: service") == 1
    assert (plog / "Chart.yaml").read_text().count("name: plog") == 1
    for chart in (service, plog):
        assert (chart / "values.schema.json").is_file()
        assert (chart / "templates" / "_helpers.tpl").is_file()


def test_missing_charts_are_an_input_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_package(name: str) -> None:
        raise ModuleNotFoundError(name)

    monkeypatch.setattr(resources, "files", no_package)
    monkeypatch.setattr(charts, "_SOURCE_CHARTS", tmp_path)
    with pytest.raises(InputError, match="charts are not installed"):
        charts.service_chart_path()
