"""The command that starts a service, its setup and its port, as ``plog init`` reads
them from a repository (never runs them).

The command, first found: a ``Procfile``'s ``web:`` line (Heroku, Dokku), a
``Containerfile``/``Dockerfile``'s ``ENTRYPOINT`` + ``CMD`` (exec or shell form),
``package.json``'s ``scripts.start`` (``npm start``), a ``[project.scripts]`` entry of
``pyproject.toml`` (PEP 621; one whose name says serve/server/web/app/api/run/start,
else the first), a Flask or FastAPI application object in ``app.py``/``main.py``/
``wsgi.py``/``asgi.py``/``application.py`` (``python -m flask --app M run``,
``python -m uvicorn M:app``).

A command written for a shell (Procfile, Dockerfile shell form) is rewritten for
PLog, which runs no shell: ``$PORT``/``${PORT}`` becomes ``{port}``, another ``$NAME``
becomes ``${NAME}`` (PLog expands it from the service's environment), a literal port
(``--port 8000``, ``-p 8000``, ``-b 0.0.0.0:8000``) becomes ``{port}``. Shell syntax
(``$(...)``, backquotes, ``&&``, ``|``, ``;``, redirections) cannot be rewritten:
it is kept as found, and ``plog init`` writes a placeholder in its place
(``plog_ci.config.project_scan``).

Setup: ``requirements.txt`` (``python -m venv .venv`` and ``.venv/bin/python -m pip
install -r requirements.txt``, cache key the file, path ``.venv``), else a
``pyproject.toml`` with ``[project]`` (``pip install .``, key ``pyproject.toml`` and
the Python sources, since the project itself is installed), else ``package.json``
(``npm ci`` with a lock file, else ``npm install``; path ``node_modules``). With a
virtual environment, a bare Python command (``python``, ``gunicorn``) runs from it.
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# (value, where it was found or why it is a guess, whether it is a guess)
Item = tuple[Any, str, bool]

APP_FILES = ("app.py", "main.py", "wsgi.py", "asgi.py", "application.py", "server.py")
# Launchers that a Python virtual environment does not provide.
NOT_PYTHON = frozenset(
    {"node", "npm", "npx", "yarn", "pnpm", "java", "dotnet", "go", "ruby", "bundle", "php",
     "sh", "bash", "env", "docker", "podman", "deno", "bun"}
)  # fmt: skip
SERVER_WORDS = ("serve", "server", "web", "app", "api", "run", "start")
_SHELL = re.compile(r"\$\(|`|&&|\|\||[|;<>]")
_PORT_VAR = re.compile(r"\$\{PORT\}|\$PORT\b")
_VAR = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_PORT_ARG = re.compile(r"^(--port=|--bind=|-b=)?((?:[\w.\[\]:-]*:)?)(\d{2,5})$")
_PORT_FLAGS = ("--port", "-p", "--bind", "-b", "--listen")
_SAFE_ARG = re.compile(r"^[\w@%+=:,./{}$-]+$")
_READS_PORT = re.compile(
    rb"environ(?:\.get\(|\[)\s*['\"]PORT['\"]|getenv\(\s*['\"]PORT['\"]|process\.env\.PORT"
)


@dataclass
class Commands:
    run: Item | None = None
    setup: Item | None = None
    setup_cache: Item | None = None
    port: Item | None = None
    warnings: list[str] = field(default_factory=list)


def _read(path: Path, limit: int = 1024 * 1024) -> str | None:
    try:
        if not path.is_file() or path.stat().st_size > limit:
            return None
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def find_commands(root: Path) -> Commands:
    """Read the command, setup and port from the repository at ``root`` (module doc)."""
    found = Commands()
    package = _package_json(root)
    pyproject = _pyproject(root)
    run = (
        _procfile(root)
        or _dockerfile(root)
        or (("npm start", "package.json (scripts.start)", False) if package.get("start") else None)
        or _project_script(pyproject)
        or _python_app(root)
    )
    node = run is not None and run[0].split()[0] in ("npm", "node", "yarn", "npx", "pnpm")
    if node or (run is None and package):
        _node_setup(root, found)
    else:
        _python_setup(root, pyproject, found)
    if run is not None:
        run = _for_plog(run, found, venv=found.setup is not None and not node)
    found.run = run
    if run is not None and "{port}" not in run[0]:
        _port(root, found)
    return found


def _procfile(root: Path) -> Item | None:
    text = _read(root / "Procfile")
    for line in (text or "").splitlines():
        name, sep, command = line.partition(":")
        if sep and name.strip() == "web" and command.strip():
            return command.strip(), "Procfile (web:)", False
    return None


def _dockerfile(root: Path) -> Item | None:
    for name in ("Containerfile", "Dockerfile"):
        text = _read(root / name)
        if text is None:
            continue
        # Continuation lines joined; the last CMD and ENTRYPOINT count, as in Docker.
        joined = re.sub(r"\\\r?\n", " ", text)
        parts: dict[str, list[str]] = {}
        for line in joined.splitlines():
            word, _, rest = line.strip().partition(" ")
            if word.upper() in ("CMD", "ENTRYPOINT") and rest.strip():
                parts[word.upper()] = _instruction(rest.strip())
        argv = parts.get("ENTRYPOINT", []) + parts.get("CMD", [])
        if argv:
            return join(argv) if len(argv) > 1 else argv[0], f"{name} (CMD)", False
    return None


def _instruction(rest: str) -> list[str]:
    """A CMD or ENTRYPOINT's arguments: the exec form (a JSON array) as its items, the
    shell form as one string (a shell would run it)."""
    if rest.startswith("["):
        try:
            items = json.loads(rest)
        except ValueError:
            return [rest]
        if isinstance(items, list) and all(isinstance(i, str) for i in items):
            return list(items)
    return [rest]


def _package_json(root: Path) -> dict[str, Any]:
    text = _read(root / "package.json")
    try:
        data = json.loads(text) if text else None
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    scripts = data.get("scripts")
    return {"present": True, **(scripts if isinstance(scripts, dict) else {})}


def _pyproject(root: Path) -> dict[str, Any]:
    text = _read(root / "pyproject.toml")
    try:
        data = tomllib.loads(text) if text else {}
    except tomllib.TOMLDecodeError:
        return {}
    project = data.get("project")
    return project if isinstance(project, dict) else {}


def _project_script(project: dict[str, Any]) -> Item | None:
    scripts = project.get("scripts")
    if not isinstance(scripts, dict) or not scripts:
        return None
    names = sorted(str(n) for n in scripts)
    serving = [n for n in names if any(w in n.lower() for w in SERVER_WORDS)]
    name = (serving or names)[0]
    guessed = len(names) > 1
    why = f"pyproject.toml ([project.scripts] {name})"
    return (
        name,
        (f"the server-like one of {len(names)} scripts in {why}" if guessed else why),
        (guessed),
    )


def _python_app(root: Path) -> Item | None:
    for name in APP_FILES:
        text = _read(root / name)
        if text is None:
            continue
        module = name[:-3]
        flask = re.search(r"^(\w+)\s*=\s*Flask\(", text, re.MULTILINE)
        if flask:
            return (
                f"python -m flask --app {module}:{flask.group(1)} run --port {{port}}",
                f"a Flask application '{flask.group(1)}' in {name}",
                True,
            )
        fastapi = re.search(r"^(\w+)\s*=\s*FastAPI\(", text, re.MULTILINE)
        if fastapi:
            return (
                f"python -m uvicorn {module}:{fastapi.group(1)} --port {{port}}",
                f"a FastAPI application '{fastapi.group(1)}' in {name}",
                True,
            )
    return None


def _python_setup(root: Path, project: dict[str, Any], found: Commands) -> None:
    venv = "python -m venv .venv"
    if (root / "requirements.txt").is_file():
        found.setup = (
            [venv, ".venv/bin/python -m pip install -r requirements.txt"],
            "requirements.txt",
            False,
        )
        found.setup_cache = ({"key": ["requirements.txt"], "paths": [".venv"]}, "", False)
    elif project:
        found.setup = ([venv, ".venv/bin/python -m pip install ."], "pyproject.toml", False)
        found.setup_cache = (
            {"key": ["pyproject.toml", "**/*.py"], "paths": [".venv"]},
            "the project itself is installed: any change to its Python files sets it up again",
            True,
        )


def _node_setup(root: Path, found: Commands) -> None:
    locked = (root / "package-lock.json").is_file()
    found.setup = (["npm ci" if locked else "npm install"], "package.json", False)
    key = ["package.json", "package-lock.json"] if locked else ["package.json"]
    found.setup_cache = ({"key": key, "paths": ["node_modules"]}, "", False)


def _for_plog(run: Item, found: Commands, *, venv: bool) -> Item:
    """The command rewritten for PLog (module doc), with the source saying so."""
    command, source, guessed = run
    notes = []
    new = _PORT_VAR.sub("{port}", command)
    if new != command:
        notes.append("$PORT is {port}")
    named = _VAR.sub(lambda m: "${" + m.group(1) + "}", new)
    if named != new:
        notes.append("$NAME is ${NAME}, from the service's environment")
    new = named
    try:
        argv = shlex.split(new)
    except ValueError:
        return new, source, guessed
    if "{port}" not in new:
        argv, port = _port_in(argv)
        if port:
            notes.append(f"its port {port} is {{port}}, a free one PLog picks")
    if venv and argv and "/" not in argv[0] and argv[0] not in NOT_PYTHON:
        argv[0] = f".venv/bin/{argv[0]}"
        notes.append("run from the virtual environment setup makes")
    if not notes:
        return new, source, guessed
    rewritten = join(argv) if not _SHELL.search(command) else new
    return rewritten, f"{source}; {'; '.join(notes)}", guessed


def join(argv: list[str]) -> str:
    """``argv`` as one command ``shlex.split`` gives back, quoting only what needs it
    (``{port}`` and ``${NAME}`` stay bare: PLog replaces them, no shell sees them)."""
    return " ".join(a if _SAFE_ARG.match(a) else shlex.quote(a) for a in argv)


def _port_in(argv: list[str]) -> tuple[list[str], str | None]:
    """``argv`` with its first literal port (``--port 8000``, ``-b host:8000``) as
    ``{port}``, and that port."""
    out = list(argv)
    for index, arg in enumerate(out):
        after_flag = index > 0 and out[index - 1] in _PORT_FLAGS
        match = _PORT_ARG.match(arg)
        if match and (after_flag or match.group(1)):
            out[index] = f"{match.group(1) or ''}{match.group(2)}{{port}}"
            return out, match.group(3)
    return out, None


def _port(root: Path, found: Commands) -> None:
    """A fixed port for a command that takes no {port}: none when the code reads PORT
    (PLog sets it), else the Dockerfile's EXPOSE."""
    for path in sorted(root.glob("*.py")) + sorted(root.glob("*.js")):
        text = _read(path)
        if text is not None and _READS_PORT.search(text.encode()):
            return
    for name in ("Containerfile", "Dockerfile"):
        expose = re.search(r"^\s*EXPOSE\s+(\d+)", _read(root / name) or "", re.M | re.I)
        if expose:
            found.port = (int(expose.group(1)), f"{name} (EXPOSE)", False)
            return
    found.warnings.append(
        "the command takes no {port} and no PORT was found in the code: PLog sets PORT; "
        "if the service listens on a fixed port, set service.port"
    )
