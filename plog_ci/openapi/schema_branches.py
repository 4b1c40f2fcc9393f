"""Pairing the branches of ``oneOf``/``anyOf`` between base and head.

Branches pair as oasdiff pairs subschemas: equal ones first (by fingerprint,
hashed once per object, never serialised: a branch is often a whole shared
component), then by ``title`` (a component's name once references are
resolved), then the one left on each side. What pairs is compared inside; what
does not is a branch added or removed.
"""

from __future__ import annotations

from typing import Any

from plog_ci.openapi.fingerprint import fingerprint


def branch_name(schema: Any, index: int) -> str:
    return str(schema.get("title") or f"#{index}") if isinstance(schema, dict) else f"#{index}"


def pair_branches(
    base: list[Any], head: list[Any]
) -> tuple[list[int], list[int], list[tuple[int, int]]]:
    """Indexes of head branches added, base branches removed, and (base, head) pairs of
    branches that changed in place. Equal branches (by fingerprint, hashed once per
    object, never serialised: a branch is often a whole shared component) are neither."""
    bprints, hprints = [fingerprint(s) for s in base], [fingerprint(s) for s in head]
    left_b = [i for i, fp in enumerate(bprints) if fp not in set(hprints)]
    left_h = [i for i, fp in enumerate(hprints) if fp not in set(bprints)]
    pairs: list[tuple[int, int]] = []

    def titles(side: list[Any], left: list[int]) -> dict[str, int]:
        seen: dict[str, list[int]] = {}
        for i in left:
            title = side[i].get("title") if isinstance(side[i], dict) else None
            if isinstance(title, str) and title:
                seen.setdefault(title, []).append(i)
        return {t: ids[0] for t, ids in seen.items() if len(ids) == 1}

    bt, ht = titles(base, left_b), titles(head, left_h)
    for title in sorted(set(bt) & set(ht)):
        pairs.append((bt[title], ht[title]))
    left_b = [i for i in left_b if i not in {p[0] for p in pairs}]
    left_h = [i for i in left_h if i not in {p[1] for p in pairs}]
    if (
        len(left_b) == 1
        and len(left_h) == 1
        and all(isinstance(side[i], dict) for side, i in ((base, left_b[0]), (head, left_h[0])))
    ):
        pairs.append((left_b[0], left_h[0]))
        left_b, left_h = [], []
    return left_h, left_b, pairs
