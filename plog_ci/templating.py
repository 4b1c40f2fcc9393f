"""Jinja2 environments over the package's own templates (never user-supplied ones)."""

from __future__ import annotations

import json
import re
import unicodedata
from functools import cache
from importlib import resources
from typing import Any

import jinja2

_JS_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"}


def js_literal(value: Any) -> str:
    """A JavaScript literal for ``value``: JSON, ASCII only, safe inside any context.

    ensure_ascii escapes U+2028/U+2029 (line terminators in older JS); the
    replacements keep ``</script>`` and HTML comment openers inert.
    """
    text = json.dumps(value, ensure_ascii=True, sort_keys=True, allow_nan=False)
    for char, escape in _JS_ESCAPES.items():
        text = text.replace(char, escape)
    return text


_MD_SPECIAL = set("\\`*_{}[]<>()#+!|~")
# After '@': a zero-width space (as an entity), so a forge links no @mention (no
# notification) from text PLog did not write. '#' needs none: the backslash that
# _MD_SPECIAL gives it already keeps GitHub and Gitea from linking #123.
_NO_LINK = "&#8203;"


def plain_text(value: Any, limit: int | None = None) -> str:
    """``value`` as one line of plain text: no control or format characters
    (NUL, ESC, bidi overrides, zero-width), whitespace runs as one space, and at
    most ``limit`` characters (cut with an ellipsis)."""
    text = "".join(
        " " if c.isspace() else c
        for c in str(value)
        if c.isspace() or unicodedata.category(c) not in ("Cc", "Cf", "Cs", "Co", "Cn")
    )
    text = " ".join(text.split())
    if limit is not None and len(text) > limit:
        text = text[: max(0, limit - 1)].rstrip() + "…"
    return text


def md_escape(value: Any) -> str:
    """Text from a spec, a service or a model, made inert in markdown (and in HTML
    inside it, and on GitHub and Gitea: no @mention, no #reference)."""
    text = plain_text(value)  # one line: one value cannot start a block
    text = text.replace("&", "&amp;")
    out = []
    for c in text:
        out.append(f"\\{c}" if c in _MD_SPECIAL else c)
        if c == "@":
            out.append(_NO_LINK)
    return "".join(out)


def code_span(value: Any) -> str:
    """``value`` as an inline code span, shown literally (CommonMark 6.1: backslash
    escapes do not work inside, so the text is not escaped; a fence longer than any
    run of backticks in it keeps it closed, and one line keeps it a span)."""
    text = plain_text(value)
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text[:1] == "`" or text[-1:] == "`" else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def fenced(text: str, info: str = "text") -> str:
    """``text`` as a fenced code block no line of it can close early (CommonMark)."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{text.rstrip()}\n{fence}"


@cache
def environment(autoescape: bool) -> jinja2.Environment:
    root = str(resources.files("plog_ci.templates"))
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(root),
        autoescape=autoescape,  # noqa: S701 - k6 scripts and markdown use js/md filters
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["js"] = js_literal
    env.filters["md"] = md_escape
    env.filters["fenced"] = fenced
    env.filters["ms"] = lambda v: f"{v:.1f}"
    env.filters["pct"] = lambda v: f"{v * 100:.2f}%"
    return env


def render(name: str, **context: Any) -> str:
    """Render a package template; HTML templates (``*.html.j2``) are autoescaped."""
    return environment(name.endswith(".html.j2")).get_template(name).render(**context)
