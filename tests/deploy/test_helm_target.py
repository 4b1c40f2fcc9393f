"""The helm target: values as Helm merges them, the URL template, and (against the
fake cluster) releases, failed rollouts and teardown."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from plog_ci import yamldoc
from plog_ci.config.helm import HelmConfig
from plog_ci.deploy import helm_values
from plog_ci.errors import ConfigError

DIGEST = "sha256:" + "ab" * 32


def _values(tree: Path, helm: HelmConfig) -> dict[str, object]:
    return helm_values.release_values(
        helm, tree, image_repository="reg.example/team/svc", image_digest=DIGEST,
        health="/healthz", container_port=9000,
    )  # fmt: skip


def test_values_merge_in_helms_order(tmp_path: Path) -> None:
    (tmp_path / "chart").mkdir()
    (tmp_path / "chart" / "Chart.yaml").write_text("apiVersion: v2\nname: c\nversion: 0.1.0\n")
    (tmp_path / "one.yaml").write_text("a: {b: 1, c: 1}\nlist: [1, 2]\nimage: {tag: x}\n")
    (tmp_path / "two.yaml").write_text("a: {c: 2, d: 2}\nlist: [3]\n")
    helm = HelmConfig(
        chart="chart",
        values_files=("one.yaml", "two.yaml"),
        values=json.dumps({"a": {"d": 3, "e": 3}}),
        set=(("a.e", "4"), ("image.repository", "overridden-by-the-build")),
    )
    values = _values(tmp_path, helm)
    assert values == {
        "a": {"b": 1, "c": 2, "d": 3, "e": 4},
        "list": [3],  # a list is replaced, as Helm does
        "image": {"tag": "x", "repository": "reg.example/team/svc", "digest": DIGEST},
    }
    assert helm_values.chart_path(helm, tmp_path) == (tmp_path / "chart").resolve()


def test_plogs_chart_gets_probe_and_ports_and_set_still_wins(tmp_path: Path) -> None:
    helm = HelmConfig(port=8081, set=(("containerPort", "7000"),))
    values = _values(tmp_path, helm)
    assert values["probes"] == {"path": "/healthz"}
    assert values["containerPort"] == 7000
    assert values["service"] == {"port": 8081}
    assert helm_values.chart_path(helm, tmp_path).name == "service"


def test_image_values_go_where_the_config_says(tmp_path: Path) -> None:
    helm = HelmConfig(image_values=("app.img.repo", "app.img.sha"))
    values = _values(tmp_path, helm)
    assert values["app"] == {"img": {"repo": "reg.example/team/svc", "sha": DIGEST}}


@pytest.mark.parametrize(
    "value", ["$(id)", "${HOME}", "<script>x</script>", "--upload-pack=x", "a\\,b=c", "'q\""]
)
def test_hostile_set_values_stay_one_value(tmp_path: Path, value: str) -> None:
    values = _values(tmp_path, HelmConfig(chart=None, set=(("env.X", value),)))
    leaf = values["env"]
    assert isinstance(leaf, dict) and list(leaf) == ["X"]
    assert leaf["X"] == value.replace("\\,", ",")


def test_a_comma_that_would_set_another_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"deploy\.helm\.set\[0\].*more than this key"):
        _values(tmp_path, HelmConfig(set=(("env.X", "a,evil.key=1"),)))


def test_values_files_stay_inside_the_tree(tmp_path: Path) -> None:
    outside = tmp_path / "outside.yaml"
    outside.write_text("secret: 1\n")
    tree = tmp_path / "tree"
    tree.mkdir()
    os.symlink(outside, tree / "link.yaml")
    with pytest.raises(ConfigError, match=r"values_files\[0\].*outside"):
        _values(tree, HelmConfig(values_files=("link.yaml",)))
    (tree / "list.yaml").write_text("- 1\n")
    with pytest.raises(ConfigError, match="not a map"):
        _values(tree, HelmConfig(values_files=("list.yaml",)))
    (tree / "bomb.yaml").write_text('a: &a ["x","x","x","x","x","x","x","x","x"]\n' + "".join(
        f"{c}: &{c} [*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p}]\n"
        for p, c in zip("abcdefgh", "bcdefghi", strict=True)
    ))  # fmt: skip
    with pytest.raises(yamldoc.YamlError, match=r"bomb\.yaml"):
        _values(tree, HelmConfig(values_files=("bomb.yaml",)))


def test_a_chart_outside_the_tree_or_without_chart_yaml_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"deploy\.helm\.chart"):
        helm_values.chart_path(HelmConfig(chart="nochart"), tmp_path)
    os.symlink("/etc", tmp_path / "etc")
    with pytest.raises(ConfigError, match="outside"):
        helm_values.chart_path(HelmConfig(chart="etc"), tmp_path)


KNOWN = {"service": "head-svc", "namespace": "plog-x-pr-1", "port": 8080, "node_port": 30080,
         "release": "head"}  # fmt: skip


def test_url_template_fills_known_fields() -> None:
    url = helm_values.fill(HelmConfig().url, "deploy.helm.url", KNOWN)
    assert url == "http://head-svc.plog-x-pr-1.svc.cluster.local:8080"
    nodeport = helm_values.fill("http://127.0.0.1:{node_port}/{{x}}", "deploy.helm.url", KNOWN)
    assert nodeport == "http://127.0.0.1:30080/{x}"


@pytest.mark.parametrize(
    "template",
    [
        "http://{__class__}/",
        "http://{0}/",
        "http://{}/",
        "http://{service.__class__.__mro__}/",
        "http://{service[0]}/",
        "http://{port!r}/",
        "http://{port:>99999}/",
        "http://{service:{port}}/",
        "http://{nope}/",
        "http://{service/",
        "http://service}/",
    ],
)
def test_url_template_refuses_anything_but_known_names(template: str) -> None:
    with pytest.raises(ConfigError, match=r"deploy\.helm\.url"):
        helm_values.fill(template, "deploy.helm.url", KNOWN)


def test_a_field_known_but_missing_here_is_an_error() -> None:
    with pytest.raises(ConfigError, match=r"deploy\.helm\.service: \{namespace\} is not known"):
        helm_values.fill("{release}-{namespace}", "deploy.helm.service", {"release": "head"})
