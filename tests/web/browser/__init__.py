"""Browser tests of the dashboard in real headless Chromium (issue 18)."""
