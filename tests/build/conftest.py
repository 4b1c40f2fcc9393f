"""Harbor's API description and a fake Harbor with one robot account, for the client's
and the scan gate's tests (one place, so both check the same fake)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from plog_ci.build.harbor import HarborClient
from plog_ci.openapi.model import Spec
from tests.build.fake_harbor import FakeHarbor, load_harbor_spec

HARBOR_URL = "https://harbor.example.com"
ROBOT = "robot$plog"
PASSWORD = "canary-Xy12-harbor"  # a canary: it must show up in no text
VAR = "PLOG_TEST_HARBOR_PASSWORD"


@pytest.fixture(scope="module")
def spec() -> Spec:
    return load_harbor_spec()


@pytest.fixture
def harbor(spec: Spec) -> Iterator[FakeHarbor]:
    fake = FakeHarbor(spec, ROBOT, PASSWORD)
    fake.projects.add("team")
    yield fake
    assert fake.violations == []


def harbor_client(fake: FakeHarbor, password: str = PASSWORD) -> HarborClient:
    """A client of ``fake`` (requests go to its transport, never the network)."""
    return HarborClient(
        f"{HARBOR_URL}/", username=ROBOT, password=password, password_env=VAR,
        transport=fake.transport(),
    )  # fmt: skip
