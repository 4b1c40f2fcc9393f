"""The benchmark knob of the example service: one operation slowed in proportion."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

APP = Path(__file__).resolve().parent.parent / "examples" / "petstore" / "app.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("petstore_app_under_test", APP)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_knob_off_by_default_and_slows_only_the_named_operation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = _load()
    assert app.SLOW_OPERATION == "" and app.SLOWDOWN == 0.0 and app.NORMAL_MS == 0.0
    slept: list[float] = []
    monkeypatch.setattr(app, "sleep", slept.append)
    client = app.create_app().test_client()
    assert client.get("/pets").status_code == 200
    assert slept == []  # off: the app is untouched

    monkeypatch.setattr(app, "SLOW_OPERATION", "GET /pets")
    monkeypatch.setattr(app, "SLOWDOWN", 0.25)
    ticks = iter([10.0, 10.008, 20.0, 20.004, 30.0, 30.004, 40.0, 40.001])
    monkeypatch.setattr(app, "perf_counter", lambda: next(ticks))
    client = app.create_app().test_client()
    assert client.get("/pets?limit=5").status_code == 200
    assert slept == [pytest.approx(0.002)]  # 25% of the 8 ms it took
    assert client.get("/pets/1").status_code == 200
    assert client.post("/pets", json={"name": "x"}).status_code == 201
    assert slept == [pytest.approx(0.002)]  # other operations are not slowed

    monkeypatch.setattr(app, "NORMAL_MS", 6.0)  # the operation's normal latency
    client = app.create_app().test_client()
    assert client.get("/pets").status_code == 200
    assert slept[-1] == pytest.approx(0.0015)  # 25% of 6 ms


def test_the_cpu_kind_spins_instead_of_sleeping(monkeypatch: pytest.MonkeyPatch) -> None:
    app = _load()
    assert app.SLOW_KIND == "sleep"
    slept: list[float] = []
    spun: list[float] = []
    monkeypatch.setattr(app, "sleep", slept.append)
    monkeypatch.setattr(app, "_spin", spun.append)
    monkeypatch.setattr(app, "SLOW_OPERATION", "GET /pets")
    monkeypatch.setattr(app, "SLOWDOWN", 0.5)
    monkeypatch.setattr(app, "NORMAL_MS", 4.0)
    monkeypatch.setattr(app, "SLOW_KIND", "cpu")
    client = app.create_app().test_client()
    assert client.get("/pets").status_code == 200
    assert spun == [pytest.approx(0.002)] and slept == []


def test_spinning_takes_the_time_on_the_cpu() -> None:
    import time

    app = _load()
    wall, cpu = time.perf_counter(), time.process_time()
    app._spin(0.02)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    # Busy, not asleep: a sleep would use next to no CPU (the bound leaves room for a
    # machine busy enough to take most of the 20 ms away).
    assert wall >= 0.02 and cpu > 0.002
