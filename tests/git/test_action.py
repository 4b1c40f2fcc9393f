"""The composite Action: its definition, and its runner script against a fake GitHub API."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from ruamel.yaml import YAML

from plog_ci.actions.run import Trigger, main
from testing.fake_forge import TOKEN, make_fake
from testing.paths import WEBHOOK_DATA as DATA
from testing.servers import Served

ROOT = Path(__file__).resolve().parents[2]


def test_action_yml_is_a_composite_that_runs_plog() -> None:
    action = YAML(typ="safe").load((ROOT / "action.yml").read_text())
    assert action["runs"]["using"] == "composite"
    runs = [s.get("run", "") for s in action["runs"]["steps"]]
    assert any("python -m plog_ci.actions.run" in r for r in runs)
    uses = [s.get("uses", "") for s in action["runs"]["steps"]]
    assert "actions/upload-artifact@v4" in uses
    # Inputs reach scripts through env, never pasted into the script text.
    assert not any("${{" in r for r in runs)


def _env(tmp_path: Path, url: str, event: str, name: str) -> dict[str, str]:
    shutil.copy(DATA / name, tmp_path / "event.json")
    return {
        "GITHUB_EVENT_NAME": event,
        "GITHUB_EVENT_PATH": str(tmp_path / "event.json"),
        "GITHUB_SHA": "f" * 40,
        "GITHUB_REPOSITORY": "Codertocat/Hello-World",
        "GITHUB_API_URL": url,
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_RUN_ID": "42",
        "GITHUB_WORKSPACE": str(tmp_path),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
        "GITHUB_OUTPUT": str(tmp_path / "output"),
        "RUNNER_TEMP": str(tmp_path),
        "PLOG_TOKEN": TOKEN,
    }


def test_pull_request_run_posts_status_comment_and_summary(tmp_path: Path, serve_app: Any) -> None:
    app = make_fake("github")
    served: Served = serve_app(app)
    seen: list[Trigger] = []

    def run(repo: Path, trigger: Trigger) -> SimpleNamespace:
        seen.append(trigger)
        return SimpleNamespace(
            status="fail",
            exit_code=1,
            profile="smoke",
            summary="p95 412ms > 300ms",
            report_markdown="# PLog\n\nslow\n",
            report_path=None,
        )

    env = _env(tmp_path, served.url, "pull_request", "pull_request_opened.payload.json")
    assert main(env, run=run) == 1
    assert seen[0].pr_number == 2 and seen[0].base == "f95f852bd8fca8fcc58a9a2d6c842781e32a215e"
    states = [c[2]["state"] for c in app.config["calls"] if "/statuses/" in c[1]]
    assert states == ["pending", "failure"]
    assert "slow" in app.config["comments"][2][0]["body"]
    assert "# PLog" in (tmp_path / "summary.md").read_text()
    out = (tmp_path / "output").read_text()
    assert "status=fail\nexit-code=1\n" in out and "plog-report.md" in out
    env["PLOG_FAIL_ON_GATE"] = "false"
    assert main(env, run=run) == 0


def test_push_run_survives_a_read_only_token(tmp_path: Path, serve_app: Any) -> None:
    served: Served = serve_app(make_fake("github"))
    env = _env(tmp_path, served.url, "push", "push_1.payload.json")
    env["PLOG_TOKEN"] = "read-only"

    def run(repo: Path, trigger: Trigger) -> SimpleNamespace:
        assert trigger.pr_number is None and trigger.head == "f" * 40
        return SimpleNamespace(
            status="pass",
            exit_code=0,
            profile="load",
            summary="ok",
            report_markdown="# ok\n",
            report_path=None,
        )

    assert main(env, run=run) == 0


def test_action_uploads_the_run_page_with_the_report() -> None:
    action = YAML(typ="safe").load((ROOT / "action.yml").read_text())
    uploads = [s for s in action["runs"]["steps"] if "upload-artifact" in s.get("uses", "")]
    assert len(uploads) == 2
    for step in uploads:
        paths = step["with"]["path"].splitlines()
        assert paths == [
            "${{ steps.plog.outputs.report-path }}",
            "${{ steps.plog.outputs.html-path }}",
        ]
    assert action["outputs"]["html-path"]["value"] == "${{ steps.plog.outputs.html-path }}"


def test_the_run_page_is_exported_next_to_the_report(tmp_path: Path, serve_app: Any) -> None:
    from plog_ci.store.sqlite import open_store
    from tests.web.test_run_template import finished_failed_run

    home = tmp_path / "action-home"  # from the env the Action gets, not the process's
    store = open_store(home)
    run_id = finished_failed_run(store)
    store.close()
    served: Served = serve_app(make_fake("github"))
    env = _env(tmp_path, served.url, "push", "push_1.payload.json")
    env["PLOG_HOME"] = str(home)

    def run(repo: Path, trigger: Trigger) -> SimpleNamespace:
        return SimpleNamespace(
            status="fail",
            exit_code=1,
            run_id=run_id,
            profile="load",
            summary="slow",
            report_markdown="# slow\n",
            report_path=None,
        )

    assert main(env, run=run) == 1
    page = tmp_path / f"plog-run-{run_id}.html"
    assert f"\nhtml-path={page}\n" in (tmp_path / "output").read_text()
    text = page.read_text(encoding="utf-8")
    assert 'id="plog-export"' in text and "Content-Security-Policy" in text

    # A run the store does not hold: a warning, no path, the same verdict.
    (tmp_path / "output").unlink()

    def lost(repo: Path, trigger: Trigger) -> SimpleNamespace:
        return SimpleNamespace(**{**vars(run(repo, trigger)), "run_id": 424242})

    assert main(env, run=lost) == 1
    assert "\nhtml-path=\n" in (tmp_path / "output").read_text()
    assert not (tmp_path / "plog-run-424242.html").exists()
