"""The plog.yml of the container tests: the petstore example built on the test base
image and run with ``deploy.target: podman`` (tests/deploy). One template, so that a
change of the deploy keys is made once."""

from __future__ import annotations

from collections.abc import Sequence

_TEMPLATE = """\
version: 1
service:
  run: python app.py --port {{port}}
  health: /health
  startup_timeout: {startup}
openapi: openapi.yaml
deploy:
  target: podman
  build:
    args: {{BASE: "{base}"}}
  resources: {resources}
{registry}load:
  rate: {rate}
  vus: {vus}
  duration: {duration}
  operations: {operations}
gates:
{gates}"""


def podman_plog_yml(
    base: str,
    *,
    registry: str = "",
    resources: str = "{cpus: 1, memory: 256Mi}",
    rate: int = 10,
    vus: int = 4,
    duration: str = "2s",
    operations: str = '["GET /pets", "GET /health"]',
    gates: Sequence[str] = ("p95 < 2s", "error_rate < 1%"),
    startup: str = "30s",
) -> str:
    """``registry``: the lines of ``deploy.registry`` (indented by two), or none."""
    return _TEMPLATE.format(
        base=base,
        registry=registry,
        resources=resources,
        rate=rate,
        vus=vus,
        duration=duration,
        operations=operations,
        gates="".join(f"  - {g}\n" for g in gates),
        startup=startup,
    )
