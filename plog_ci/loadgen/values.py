"""Request values from the spec: a valid example first, else one built from the schema.

Every value is meant to validate against its schema (checked with
:mod:`plog_ci.loadgen.validity`; a value that still does not is reported
through ``warnings``):

- spec examples, defaults, ``examples`` (3.1), ``const`` and ``enum`` members
  are used only when they validate; one JSON cannot carry (a YAML ``.inf`` or
  ``.nan``) is replaced from the schema with a warning;
- ``allOf`` (with sibling keywords, as OpenAPI 3.1 ``$ref`` siblings arrive)
  is folded into one schema (:mod:`plog_ci.loadgen.schema_merge`); ``oneOf`` /
  ``anyOf`` take the first branch that yields a valid value; ``if/then/else``
  and ``not`` are checked after generation;
- ``type`` arrays and ``"null"`` (3.1), ``nullable`` (3.0), bounds in both
  spellings, ``multipleOf`` and integers of any size exactly
  (:mod:`plog_ci.loadgen.numbers`), ``pattern`` with lengths, ``format``,
  ``contentEncoding``/``contentMediaType``, ``prefixItems``, ``contains``,
  ``uniqueItems``, ``dependentRequired``, ``min/maxProperties``;
- ``readOnly`` is left out of requests (also when required: OpenAPI 3.0.3 says
  required applies to responses only) and ``writeOnly`` out of responses,
  wherever they sit (``allOf`` parts, nested objects, array items, examples);
- recursion (the loader's ``x-plog-recursive`` markers, or a real cycle of
  dicts) gives the smallest instance: an optional recursive property is left
  out, a recursive array is empty where ``minItems`` allows; where a required
  value would recurse again, the ``anyOf``/``oneOf`` branch, ``type`` array
  member or ``nullable`` (3.0, also beside ``allOf: [$ref]``) that ends it is
  chosen (:mod:`plog_ci.loadgen.termination`), and a required recursive object
  is otherwise generated to the least depth that validates. Without the
  document, a marker is validated as the schema it was generated from
  (``Ctx.check_root``), so a value is never passed as valid unchecked;
- a numeric keyword whose value is unusable (``minimum: "1e400"``, which YAML
  1.1 reads as a string; ``multipleOf: 0``; ``minLength: -1``) is noted as
  ``minimum '1e400' is not a number; ignored`` and generation goes on without it.

Generation is deterministic, so one commit always produces the same script.
"""

from __future__ import annotations

from typing import Any, cast

from plog_ci.loadgen import numbers
from plog_ci.loadgen.json_safe import repair, shown, yaml_text
from plog_ci.loadgen.schema_merge import fold_all_of
from plog_ci.loadgen.termination import is_marker, kinds, must_recurse, nullable
from plog_ci.loadgen.validity import errors, is_valid, keyword_problem, non_finite, pointer_get
from plog_ci.loadgen.value_shapes import (
    FORMAT_SAMPLES,
    MAX_DEPTH,
    MAX_RECURSION,
    OMIT,
    Ctx,
    array_value,
    hidden,
    object_value,
    string_value,
)
from plog_ci.openapi.model import JsonSchema, MediaType, Parameter

__all__ = ["FORMAT_SAMPLES", "for_media", "for_parameter", "from_schema", "strip_hidden"]


def strip_hidden(value: Any, schema: Any, request: bool, depth: int = 0) -> Any:
    """``value`` without the properties ``schema`` marks readOnly (request) / writeOnly."""
    flag = "readOnly" if request else "writeOnly"
    if not isinstance(schema, dict) or depth > MAX_DEPTH:
        return value
    schema = fold_all_of(schema)
    if isinstance(value, dict):
        props = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
        out = {}
        for key, item in value.items():
            sub = props.get(key)
            if hidden(sub, flag):
                continue
            out[key] = strip_hidden(item, sub, request, depth + 1)
        return out
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [strip_hidden(item, schema["items"], request, depth + 1) for item in value]
    return value


def _candidates(schema: dict[str, Any]) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for key in ("example", "default"):
        if key in schema:
            out.append((key, schema[key]))
    if isinstance(schema.get("examples"), list):
        out += [("example", v) for v in schema["examples"]]
    return out


def _pick(
    schema: dict[str, Any],
    ctx: Ctx,
    where: str,
    found: list[tuple[str, Any]],
    source: dict[str, Any] | None = None,
) -> tuple[bool, Any]:
    """The first of ``found`` (then ``const``, ``enum`` of ``source``) that validates."""
    source = schema if source is None else source
    enum = source.get("enum")
    tail: list[tuple[str, Any]] = [("const", source["const"])] if "const" in source else []
    if isinstance(enum, list):
        members = [v for v in enum if v is not None] + [v for v in enum if v is None]
        if ctx.variant and members:
            members = members[ctx.variant % len(members) :] + members[: ctx.variant % len(members)]
        tail += [("enum", v) for v in members]
    for kind, value in found + tail:
        if non_finite(value) is not None:
            value = _repaired(kind, value, schema, ctx, where)
        value = strip_hidden(value, schema, ctx.request)
        if is_valid(value, schema, request=ctx.request, root=ctx.check_root()):
            return True, value
    return False, None


def _repaired(kind: str, value: Any, schema: Any, ctx: Ctx, where: str) -> Any:
    """``value`` with what JSON cannot carry generated from the schema instead (noted)."""

    def fresh(sub: Any) -> Any:
        if isinstance(sub, dict):  # from the schema itself, not its (maybe broken) examples
            sub = {k: v for k, v in sub.items() if k not in ("example", "default", "examples")}
        made = generate(sub, Ctx(request=ctx.request, root=ctx.root, stack=list(ctx.stack)))
        return None if made is OMIT else made

    value, done = repair(value, schema, fresh)
    for at, bad, new in done:
        ctx.note(
            f"{kind} {yaml_text(bad)} at {where + at or '/'} cannot be sent as JSON; "
            f"generated {shown(new)} from the schema"
        )
    return value


def _target(marker: dict[str, Any], ctx: Ctx) -> dict[str, Any] | None:
    """What a recursion marker points at: in the document if known, else the ancestor."""
    ref = marker.get("$ref")
    if ctx.root is not None and isinstance(ref, str):
        node: Any = pointer_get(ctx.root, ref)
        if isinstance(node, dict):
            found: dict[str, Any] = node
            return found
    # The marker stands where the resolver met a reference already being resolved:
    # the nearest object-shaped ancestor is that schema in the usual cases.
    for ancestor in reversed(ctx.stack):
        if "properties" in ancestor or "allOf" in ancestor or _object_kind(ancestor):
            if isinstance(ref, str) and ref.startswith("#/"):
                ctx.refs.setdefault(ref, ancestor)  # validated as what was generated
            return cast(dict[str, Any], ancestor)
    return None


def _object_kind(schema: dict[str, Any]) -> bool:
    kind = schema.get("type")
    return kind == "object" or (isinstance(kind, list) and "object" in kind)


def generate(schema: Any, ctx: Ctx, where: str = "", depth: int = 0) -> Any:
    """A value ``schema`` accepts, or :data:`OMIT` where recursion stops."""
    if schema is True or schema == {} or schema is None:
        return "example"
    if not isinstance(schema, dict) or depth > MAX_DEPTH:
        return OMIT
    recursive = bool(schema.get("x-plog-recursive")) or any(s is schema for s in ctx.stack)
    if recursive:
        target = _target(schema, ctx) if schema.get("x-plog-recursive") else schema
        if target is None or ctx.entered >= MAX_RECURSION:
            ctx.recursions += 1
            return OMIT
        ctx.entered += 1
        ctx.recursions += 1
        try:
            return _fresh(target, ctx, where, depth + 1)
        finally:
            ctx.entered -= 1
    return _fresh(schema, ctx, where, depth)


def _unusable_keywords(schema: dict[str, Any], ctx: Ctx, where: str, depth: int = 0) -> None:
    """Note each numeric keyword of ``schema`` (and its allOf parts) that cannot be used."""
    for key, raw in schema.items():
        need = keyword_problem(key, raw)
        if need is not None:
            text = yaml_text(raw) if isinstance(raw, float) else repr(raw)
            text = text if len(text) <= 60 else text[:57] + "..."
            ctx.note(f"{where + ': ' if where else ''}{key} {text} is not {need}; ignored")
    parts = schema.get("allOf")
    if isinstance(parts, list) and depth < 8:
        for part in parts:
            if isinstance(part, dict) and not part.get("x-plog-recursive"):
                _unusable_keywords(part, ctx, where, depth + 1)


def _fresh(schema: dict[str, Any], ctx: Ctx, where: str, depth: int) -> Any:
    _unusable_keywords(schema, ctx, where)
    ctx.stack.append(schema)
    try:
        ok, value = _pick(schema, ctx, where, _candidates(schema))
        if ok:
            return value
        return _built(schema, ctx, where, depth)
    finally:
        ctx.stack.pop()


def _built(schema: dict[str, Any], ctx: Ctx, where: str, depth: int) -> Any:
    eff = fold_all_of(schema) if "allOf" in schema else schema
    if eff is not schema:
        ok, value = _pick(schema, ctx, where, _candidates(eff), eff)
        if ok:
            return value
    markers = [p for p in eff.get("allOf") or [] if is_marker(p, ctx)]
    if markers:
        return _through(schema, eff, markers, ctx, where, depth)
    for key in ("oneOf", "anyOf"):
        branches = eff.get(key)
        if isinstance(branches, list) and branches:
            return _branch(schema, eff, key, branches, ctx, where, depth)
    value = _typed(eff, ctx, where, depth)
    if "not" in eff and value is not OMIT:
        value = _avoid(value, schema, eff["not"], ctx)
    if isinstance(eff.get("if"), dict) and value is not OMIT:
        then = (
            "then"
            if is_valid(value, eff["if"], request=ctx.request, root=ctx.check_root())
            else "else"
        )
        if isinstance(eff.get(then), dict):
            rest = {k: v for k, v in eff.items() if k not in ("if", "then", "else")}
            value = _typed(fold_all_of({"allOf": [rest, eff[then]]}), ctx, where, depth)
    return value


def _through(
    schema: dict[str, Any],
    eff: dict[str, Any],
    markers: list[dict[str, Any]],
    ctx: Ctx,
    where: str,
    depth: int,
) -> Any:
    """A value for ``allOf`` with recursive parts (a 3.1 ``$ref`` with siblings, the 3.0
    ``nullable`` + ``allOf: [$ref]`` idiom): null where ``nullable`` ends the recursion,
    else the parts' targets folded in and generated one recursion deeper."""
    if nullable(eff):
        return None
    if ctx.entered >= MAX_RECURSION:
        ctx.recursions += 1
        return OMIT
    targets: list[Any] = []
    for marker in markers:
        target = marker if any(s is marker for s in ctx.stack) else _target(marker, ctx)
        if target is None:
            ctx.recursions += 1
            return OMIT
        targets.append(target)
    rest = [p for p in eff.get("allOf") or [] if not any(p is m for m in markers)]
    own = {k: v for k, v in eff.items() if k != "allOf"}
    merged = fold_all_of({**own, "allOf": [*targets, *rest]})
    ctx.entered += 1
    ctx.recursions += 1
    ctx.stack.extend(targets)
    try:
        return _built(merged, ctx, where, depth + 1)
    finally:
        del ctx.stack[len(ctx.stack) - len(targets) :]
        ctx.entered -= 1


def _avoid(value: Any, schema: dict[str, Any], banned: Any, ctx: Ctx) -> Any:
    """``value`` or a near one of its type that ``not: banned`` lets through."""
    if not is_valid(value, banned, request=ctx.request, root=ctx.check_root()):
        return value
    tries: list[Any] = []
    if isinstance(value, str):
        tries = [f"{value}!", f"{value} ", "-", " ", "~", ""]
    elif isinstance(value, bool):
        tries = [not value]
    elif isinstance(value, int):
        tries = [value + 1, value - 1, 0, -1, value * 2]
    elif isinstance(value, float):
        tries = [value + 0.5, value - 0.5, 0.5]
    for other in tries:
        if is_valid(other, schema, request=ctx.request, root=ctx.check_root()):
            return other
    return value


def _branch(
    schema: dict[str, Any],
    eff: dict[str, Any],
    key: str,
    branches: list[Any],
    ctx: Ctx,
    where: str,
    depth: int,
) -> Any:
    base = {k: v for k, v in eff.items() if k not in ("oneOf", "anyOf", "example", "default")}

    def rank(i: int) -> tuple[bool, bool, int]:
        branch = branches[i]
        here = ctx.entered > 0 or is_marker(branch, ctx)  # recursion would continue here
        null = isinstance(branch, dict) and branch.get("type") == "null"
        return here and must_recurse(branch, ctx), null, i

    order = sorted(range(len(branches)), key=rank)
    for branch in branches:  # known to validation even when not generated
        if isinstance(branch, dict) and branch.get("x-plog-recursive"):
            _target(branch, ctx)
    first: Any = OMIT
    for i in order:
        branch = branches[i]
        if isinstance(branch, dict) and branch.get("x-plog-recursive"):
            target = _target(branch, ctx)
            branch = target if target is not None and ctx.entered < MAX_RECURSION else branch
        part = fold_all_of({"allOf": [base, branch]}) if base else branch
        value = generate(part, ctx, where, depth + 1)
        if value is OMIT:
            continue
        if first is OMIT:
            first = value
        if is_valid(value, schema, request=ctx.request, root=ctx.check_root()):
            return value
    return first


def _typed(eff: dict[str, Any], ctx: Ctx, where: str, depth: int) -> Any:
    order = kinds(eff)
    if ctx.entered > 0 and ("null" in order or nullable(eff)):
        # Inside a recursion: null ends it where every other kind would go on.
        others = [k for k in order if k != "null"]
        rest = {**eff, "type": others, "nullable": False, "x-nullable": False}
        if others and must_recurse(rest, ctx):
            return None
    value: Any = OMIT
    for kind in order:
        if kind == "integer":
            value = numbers.integer(eff, ctx.variant)
        elif kind == "number":
            value = numbers.number(eff, ctx.variant)
        elif kind == "boolean":
            value = ctx.variant % 2 == 0
        elif kind == "null":
            value = None
        elif kind == "array":
            value = array_value(eff, ctx, where, depth, generate)
        elif kind == "object":
            value = object_value(eff, ctx, where, depth, generate)
        else:
            value = string_value(eff, ctx, where, generate)
        if value is not OMIT and (value is not None or kind == "null"):
            return value
    return OMIT if value is OMIT else value


def _finish(value: Any, schema: JsonSchema | None, ctx: Ctx, what: str) -> Any:
    value = None if value is OMIT else value
    if schema is not None:
        problems = errors(value, schema, request=ctx.request, root=ctx.check_root(), limit=1)
        if problems:
            ctx.note(f"the generated {what} {shown(value)} does not validate: {problems[0]}")
    return value


def from_schema(
    schema: JsonSchema | None,
    depth: int = 0,
    request: bool = True,
    *,
    root: dict[str, Any] | None = None,
    warnings: list[str] | None = None,
) -> Any:
    """A value that the schema accepts (deterministic: the first that fits).

    ``request`` leaves readOnly out (False: writeOnly); ``root`` is the resolved
    document (``Spec.raw``) that recursion markers point into, when the caller
    has it. Problems go to ``warnings``. Returns None when nothing can be made.
    """
    ctx = Ctx(request=request, root=root, notes=warnings)
    value = generate(schema, ctx, "", depth)
    return _finish(value, schema, ctx, "value")


def _given(
    examples: tuple[Any, ...], schema: JsonSchema | None, ctx: Ctx, what: str
) -> tuple[bool, Any]:
    """The first of the operation's own examples that validates (the rest are noted)."""
    for example in examples:
        if non_finite(example) is not None:
            example = _repaired("example", example, schema, ctx, "")
        example = strip_hidden(example, schema, ctx.request)
        problems = errors(example, schema, request=ctx.request, root=ctx.root, limit=1)
        if not problems:
            return True, example
        ctx.note(f"{what} example {shown(example)} does not match its schema ({problems[0]})")
    return False, None


def _value(
    examples: tuple[Any, ...],
    schema: JsonSchema | None,
    what: str,
    root: dict[str, Any] | None,
    warnings: list[str] | None,
) -> Any:
    notes: list[str] = []
    ctx = Ctx(root=root, notes=notes)
    ok, value = _given(examples, schema, ctx, what)
    if not ok:
        value = _finish(generate(schema, ctx), schema, ctx, what)
    if warnings is not None:
        for note in notes:
            if "does not match its schema" in note:
                note += f"; generated {shown(value)} from the schema"
            warnings.append(note)
    return value


def for_parameter(
    param: Parameter,
    *,
    warnings: list[str] | None = None,
    root: dict[str, Any] | None = None,
) -> Any:
    """A value for ``param``; messages about the value (no operation key) go to ``warnings``."""
    return _value(
        param.examples, param.schema, f"{param.location} parameter {param.name!r}", root, warnings
    )


def for_media(
    media: MediaType,
    *,
    warnings: list[str] | None = None,
    root: dict[str, Any] | None = None,
) -> Any:
    """A body for ``media``; messages about the value (no operation key) go to ``warnings``."""
    return _value(media.examples, media.schema, f"{media.media_type} body", root, warnings)
