"""Real headless Chromium (Debian ``chromium``, driven by Playwright's Python package)
on the real app over waitress.

* ``browser`` (session): one Chromium for every test (a launch costs ~0.5 s).
  Missing chromium or playwright: skipped with the reason, failed under ``CI=true``.
  Playwright's own browser download is never used: ``executable_path`` is the
  Debian binary, so ``playwright install`` is not needed.
* ``tab`` (per test): a fresh context and page on ``waitress_url`` (the app over
  waitress, from tests/web/test_dashboard_runs.py), with what the page did that
  it should not (dialogs, console errors, uncaught exceptions) recorded, and a
  screenshot saved when the test ends.
* Screenshots go to ``$PLOG_TEST_ARTIFACTS/browser/`` (default
  ``tests-artifacts/browser/`` at the repository root), one PNG per page a test
  names (``tab.snap("filtered")``) plus ``<test>--end.png``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn
from urllib.parse import urlsplit

import pytest

from testing.influx_servers import require_binary
from testing.paths import ROOT

# The app over waitress on 127.0.0.1 (a fixture: importing it makes it one here).
from tests.web.test_dashboard_runs import waitress_url

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Dialog, Error, Page

__all__ = ["waitress_url"]
ARTIFACTS_ENV = "PLOG_TEST_ARTIFACTS"
TIMEOUT_MS = 5_000


def skip_or_fail(message: str) -> NoReturn:
    """Skip with ``message``; under ``CI=true`` fail instead (CI must run these)."""
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def artifacts_dir() -> Path:
    """Where browser screenshots go: ``$PLOG_TEST_ARTIFACTS/browser`` or tests-artifacts/."""
    base = os.environ.get(ARTIFACTS_ENV)
    return (Path(base) if base else ROOT / "tests-artifacts") / "browser"


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    executable = require_binary("chromium")
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError as exc:
        skip_or_fail(f"playwright is not installed ({exc}); pip install -e '.[dev]'")
    playwright = sync_playwright().start()
    try:
        launched = playwright.chromium.launch(executable_path=executable, headless=True)
    except Error as exc:
        playwright.stop()
        skip_or_fail(f"{executable} did not start under Playwright: {exc.message}")
    yield launched
    launched.close()
    playwright.stop()


@dataclass
class Tab:
    """One page in its own browser context, and what it did that it should not.

    ``dialogs``: messages of alert/confirm/prompt dialogs (each dismissed);
    ``console_errors``: console messages of type error (CSP violations are
    reported there: "... inline script violates the following Content Security
    Policy directive ..."), less Chromium's own /favicon.ico 404;
    ``page_errors``: uncaught exceptions.
    """

    page: Page
    shots: Path
    test: str
    dialogs: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def _dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def _console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        source = message.location.get("url", "")
        # Chromium asks for /favicon.ico by itself; the dashboard has none (a 404).
        if urlsplit(source).path == "/favicon.ico":
            return
        self.console_errors.append(f"{message.text} [{source}]" if source else message.text)

    def _page_error(self, error: Error) -> None:
        self.page_errors.append(error.message)

    def snap(self, label: str) -> Path:
        """Save a full-page screenshot as ``<test>--<label>.png``; returns its path."""
        self.shots.mkdir(parents=True, exist_ok=True)
        path = self.shots / f"{self.test}--{label}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def csp_violations(self) -> list[str]:
        """The console errors that report a content-security-policy refusal."""
        return [m for m in self.console_errors if "Content Security Policy" in m]

    def assert_clean(self) -> None:
        """No dialog opened, nothing logged as an error, no uncaught exception."""
        assert self.dialogs == []
        assert self.console_errors == []
        assert self.page_errors == []


@pytest.fixture
def tab(browser: Browser, waitress_url: str, request: pytest.FixtureRequest) -> Iterator[Tab]:
    context = browser.new_context(base_url=waitress_url, viewport={"width": 1280, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    opened = Tab(page=page, shots=artifacts_dir(), test=name)
    page.on("dialog", opened._dialog)
    page.on("console", opened._console)
    page.on("pageerror", opened._page_error)
    yield opened
    try:
        if page.url.startswith(waitress_url):
            opened.snap("end")
    finally:
        context.close()
