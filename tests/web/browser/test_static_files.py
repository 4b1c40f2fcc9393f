"""``GET /static/<name>`` (issue 18, item 7): the vendored uPlot as a browser gets it.

Over a real socket to waitress, so request paths reach the app exactly as sent
(``..``, ``%2e%2e``, ``//``), not as an HTTP client library would tidy them.
"""

from __future__ import annotations

import configparser
import fnmatch
import hashlib
import http.client
import re
from collections.abc import Callable
from urllib.parse import urlsplit

from flask import Flask

from plog_ci.web.dashboard.static_files import STATIC_DIR, content_type
from testing.paths import ROOT

UPLOT_DIR = STATIC_DIR / "vendor" / "uplot"


def fetch(
    base: str, target: str, method: str = "GET", **headers: str
) -> tuple[int, dict[str, str], bytes]:
    """Status, headers (lower-case names) and body of ``method target`` sent as is."""
    url = urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=10)
    try:
        conn.putrequest(method, target, skip_accept_encoding=True)
        for name, value in headers.items():
            conn.putheader(name.replace("_", "-"), value)
        conn.endheaders()
        response = conn.getresponse()
        body = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, body
    finally:
        conn.close()


SERVED = {
    "uPlot.esm.js": "text/javascript; charset=utf-8",
    "uPlot.min.css": "text/css; charset=utf-8",
    "LICENSE": "text/plain; charset=utf-8",
    "README.txt": "text/plain; charset=utf-8",
}


def test_vendored_files_are_served_whole_with_their_type(waitress_url: str) -> None:
    for name, kind in SERVED.items():
        target = f"/static/vendor/uplot/{name}"
        status, headers, body = fetch(waitress_url, target)
        assert status == 200, target
        assert body == (UPLOT_DIR / name).read_bytes(), target
        assert headers["content-type"] == kind
        assert headers["cache-control"] == "max-age=3600"
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["content-security-policy"].startswith("default-src 'self'")
        # HEAD: the same headers, no body; a revalidation with the ETag: 304.
        status, head, body = fetch(waitress_url, target, "HEAD")
        assert status == 200 and body == b"" and head["content-type"] == kind
        status, _, body = fetch(waitress_url, target, If_None_Match=headers["etag"])
        assert status == 304 and body == b"", target


def test_the_vendored_files_are_the_release_unmodified() -> None:
    """README.txt names the version and each file's sha256 from the npm package."""
    readme = (UPLOT_DIR / "README.txt").read_text(encoding="utf-8")
    version = re.search(r"^uPlot (\d+\.\d+\.\d+) ", readme)
    assert version is not None
    assert f"(v{version[1]})" in (UPLOT_DIR / "uPlot.esm.js").read_text(encoding="utf-8")[:400]
    listed = dict(
        (name, digest) for digest, name in re.findall(r"^  ([0-9a-f]{64})  (\S+)$", readme, re.M)
    )
    assert set(listed) == {"uPlot.esm.js", "uPlot.min.css", "LICENSE"}
    for name, digest in listed.items():
        assert hashlib.sha256((UPLOT_DIR / name).read_bytes()).hexdigest() == digest, name
    assert "MIT License" in (UPLOT_DIR / "LICENSE").read_text(encoding="utf-8")


TRAVERSALS = [
    "/static/../static_files.py",
    "/static/../__init__.py",
    "/static/%2e%2e/static_files.py",
    "/static/%2E%2E%2Fstatic_files.py",
    "/static/vendor/../../static_files.py",
    "/static/vendor/%2e%2e/%2e%2e/static_files.py",
    "/static/..%2f..%2f..%2fweb%2f__init__.py",
    "/static/.%2e/static_files.py",
    "/static/vendor/uplot/./LICENSE",
    "/static/vendor/uplot/%00.js",
    "/static/vendor/uplot/uPlot.esm.js%00.css",
    "/static/vendor/uplot",
    "/static/vendor/uplot/",
    "/static/vendor/uplot/missing.js",
    "/static/vendor/uplot\\..\\..\\..\\static_files.py",
]


ABSOLUTE = [
    "/static//etc/passwd",
    "/static///etc/passwd",
    "/static/%2fetc%2fpasswd",
    "/static/%2Fetc/passwd",
]


def test_paths_out_of_the_folder_are_404(waitress_url: str) -> None:
    # The files these aim at exist: a route that followed them would serve them.
    assert (STATIC_DIR / ".." / "static_files.py").is_file()
    assert (UPLOT_DIR / "LICENSE").is_file()
    for target in TRAVERSALS:
        status, headers, body = fetch(waitress_url, target)
        assert status == 404, (target, status, body[:200])
        assert b"import" not in body and b"MIT" not in body, target
        assert headers["x-content-type-options"] == "nosniff"
    for target in ABSOLUTE:
        # Werkzeug merges the slashes with a redirect to /static/etc/passwd: 404 there.
        status, headers, body = fetch(waitress_url, target)
        assert status in (308, 404) and b"root:" not in body, target
        if status == 308:
            location = urlsplit(headers["location"]).path
            assert location == "/static/etc/passwd", target
            assert fetch(waitress_url, location)[0] == 404


def test_the_flask_client_refuses_the_same(make_app: Callable[..., Flask]) -> None:
    client = make_app().test_client()
    assert client.get("/static/vendor/uplot/uPlot.esm.js").status_code == 200
    for target in ("/static/../static_files.py", "/static/%2e%2e/static_files.py"):
        res = client.get(target)
        assert res.status_code == 404 and b"import" not in res.data
    assert client.post("/static/vendor/uplot/LICENSE").status_code == 405


def test_only_known_suffixes_have_a_type() -> None:
    assert content_type("a/b.JS") == "text/javascript; charset=utf-8"
    assert content_type("x.css") == "text/css; charset=utf-8"
    assert content_type("LICENSE") == "text/plain; charset=utf-8"
    assert content_type("favicon.svg") == "image/svg+xml"  # our own icon; no user file
    for name in ("static_files.py", "x.html", "x.htm", "a/b.pyc", "x.js.map"):
        assert content_type(name) is None, name


def test_every_static_file_ships_in_the_wheel() -> None:
    """setup.cfg lists each folder under static/ as a package and matches each file
    with a package_data pattern (a folder or suffix left out would be missing from
    an installed plog, while every test here passed on the checkout)."""
    config = configparser.ConfigParser(interpolation=None)
    config.read(ROOT / "setup.cfg", encoding="utf-8")
    packages = set(config["options"]["packages"].split())
    patterns = [p.strip() for p in config["options.package_data"]["*"].split(",")]
    files = [p for p in STATIC_DIR.rglob("*") if p.is_file()]
    assert len(files) >= 4
    for path in files:
        folder = path.parent.relative_to(ROOT).as_posix().replace("/", ".")
        assert folder in packages, folder
        assert any(fnmatch.fnmatch(path.name, p) for p in patterns), path.name
