"""The container tools the deploy stage will use, as this machine runs them.

Real podman/buildah (rootful, runc, overlay), a base image made by debootstrap
(no registry pull), and Debian's docker-registry with htpasswd auth and TLS from
a test CA. docs/containers-here.md has the recipe and its timings.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from plog_ci.deploy.process import free_port
from testing.container_tools import (
    Containers,
    base_image,
    containers,
    http_ready,
    image_labels,
    registry,
)
from testing.paths import EXAMPLE

CONTAINERFILE = """\
FROM {base}
WORKDIR /app
COPY app.py /app/app.py
EXPOSE 8080
CMD ["python3", "/app/app.py", "--host", "0.0.0.0", "--port", "8080"]
"""


@pytest.fixture(scope="module")
def tools() -> Containers:
    return containers()


@pytest.fixture
def label(tools: Containers) -> Iterator[str]:
    """A label unique to the test; whatever carries it is removed afterwards."""
    value = f"plog.test={uuid.uuid4().hex}"
    yield value
    tools.remove_labelled(value)


def _build(tools: Containers, context: Path, tag: str, revision: str) -> str:
    """Build ``context`` with buildah; the image id (from --iidfile)."""
    iidfile = context.parent / f"{tag.rsplit('/', 1)[-1].replace(':', '-')}.iid"
    tools.buildah(
        "bud", "--layers", "--iidfile", str(iidfile), "-t", tag,
        "--label", f"org.opencontainers.image.revision={revision}",
        "--annotation", f"org.opencontainers.image.revision={revision}",
        "-f", str(context / "Containerfile"), str(context),
    )  # fmt: skip
    return iidfile.read_text(encoding="utf-8").strip()


@pytest.fixture(scope="module")
def petstore(tools: Containers, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The example service as an image (tag ``localhost/plog-test-petstore:aaa``)."""
    context = tmp_path_factory.mktemp("petstore") / "context"
    context.mkdir()
    shutil.copy(EXAMPLE / "app.py", context / "app.py")
    (context / "Containerfile").write_text(CONTAINERFILE.format(base=base_image(tools)))
    _build(tools, context, "localhost/plog-test-petstore:aaa", "aaa")
    return "localhost/plog-test-petstore:aaa"


def _run(tools: Containers, image: str, label: str) -> tuple[str, int]:
    """Start ``image`` detached with its port on loopback and limits; (id, host port)."""
    port = free_port()
    cid = tools.podman(
        "run", "-d", "--init", "--label", label, "-p", f"127.0.0.1:{port}:8080",
        "--cpus", "1", "--memory", "512m", image,
    ).stdout.strip()  # fmt: skip
    assert http_ready(f"http://127.0.0.1:{port}/health", 30), tools.podman("logs", cid).stdout
    return cid, port


def test_registry_needs_the_password(tmp_path: Path) -> None:
    with registry(tmp_path / "registry") as reg:
        url = f"https://{reg.host}/v2/"
        ca = reg.verify()
        assert httpx.get(url, verify=ca).status_code == 401
        assert httpx.get(url, verify=ca, auth=(reg.username, "wrong")).status_code == 401
        assert httpx.get(url, verify=ca, auth=(reg.username, reg.password)).status_code == 200
        with pytest.raises(httpx.ConnectError):  # the test CA is needed: not trusted by default
            httpx.get(url)


@pytest.mark.slow
def test_build_cache_run_and_remove_by_label(
    tools: Containers, petstore: str, label: str, tmp_path: Path
) -> None:
    # Same tree: the cached layers give the same image; another app.py a new one.
    context = tmp_path / "context"
    context.mkdir()
    shutil.copy(EXAMPLE / "app.py", context / "app.py")
    (context / "Containerfile").write_text(CONTAINERFILE.format(base=base_image(tools)))
    first = _build(tools, context, "localhost/plog-test-petstore:aaa", "aaa")
    assert _build(tools, context, "localhost/plog-test-petstore:aaa2", "aaa") == first
    with open(context / "app.py", "a", encoding="utf-8") as fh:
        fh.write("# changed\n")
    assert _build(tools, context, "localhost/plog-test-petstore:bbb", "aaa") != first
    assert image_labels(tools, petstore)["org.opencontainers.image.revision"] == "aaa"

    cid, port = _run(tools, petstore, label)
    pets = httpx.get(f"http://127.0.0.1:{port}/pets", params={"limit": 2}).json()
    assert [p["id"] for p in pets] == [1, 2]
    limits = tools.podman(
        "inspect", "--format", "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}}", cid
    ).stdout.split()
    assert limits == ["536870912", "1000000000"]
    stats = json.loads(tools.podman("stats", "--no-stream", "--format", "json", cid).stdout)
    assert stats[0]["mem_usage"].endswith("/ 536.9MB")

    assert tools.labelled(label) == [cid]
    tools.remove_labelled(label)
    assert tools.labelled(label) == []
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)


@pytest.mark.slow
def test_push_with_auth_then_run_by_digest(
    tools: Containers, petstore: str, label: str, tmp_path: Path
) -> None:
    with registry(tmp_path / "registry") as reg:
        target = f"{reg.host}/team/petstore"
        with reg.authfile(password="not-the-password") as bad:
            refused = tools.podman(
                "push", *reg.tls_args(), "--authfile", str(bad), petstore, f"{target}:aaa",
                check=False,
            )  # fmt: skip
        assert refused.returncode != 0
        assert "unauthorized" in refused.stderr

        digestfile = tmp_path / "digest"
        with reg.authfile() as auth:
            assert auth.stat().st_mode & 0o777 == 0o600
            pushed = tools.podman(
                "push", *reg.tls_args(), "--authfile", str(auth), "--digestfile",
                str(digestfile), petstore, f"{target}:aaa", secret=[reg.password],
            )  # fmt: skip
            digest = digestfile.read_text(encoding="utf-8").strip()
            assert digest.startswith("sha256:")
            by_digest = f"{target}@{digest}"
            tools.podman("pull", *reg.tls_args(), "--authfile", str(auth), by_digest)
            manifest = tools.skopeo(
                "inspect", "--raw", *reg.tls_args(), "--authfile", str(auth),
                f"docker://{by_digest}",
            ).stdout  # fmt: skip
        assert not auth.exists()
        assert reg.password not in pushed.stdout + pushed.stderr

        cid, port = _run(tools, by_digest, label)
        assert httpx.get(f"http://127.0.0.1:{port}/health").json() == {"status": "ok"}
        # What runs is what was pushed: the container's image is the manifest's config.
        # (.ImageDigest is not: it names the image's first digest, the local build's.)
        name, image = tools.podman(
            "inspect", "--format", "{{.ImageName}} {{.Image}}", cid
        ).stdout.split()
        assert name == by_digest
        assert json.loads(manifest)["config"]["digest"] == f"sha256:{image}"
        assert json.loads(manifest)["annotations"]["org.opencontainers.image.revision"] == "aaa"
        tools.remove_labelled(label)
        assert tools.labelled(label) == []
        tools.podman("rmi", by_digest, check=False)
