"""Memory sizes written the Kubernetes way: 512Mi, 1Gi, 500M, or plain bytes."""

from __future__ import annotations

import re

# Binary units (Ki, Mi, Gi) are powers of 1024, decimal ones (K, M, G) of 1000,
# as in Kubernetes resource quantities, so one spelling means the same in both.
_UNITS = {
    "": 1,
    "K": 1000,
    "M": 1000**2,
    "G": 1000**3,
    "Ki": 1024,
    "Mi": 1024**2,
    "Gi": 1024**3,
}
_SIZE = re.compile(r"(\d+(?:\.\d+)?)(Ki|Mi|Gi|K|M|G)?")
HINT = "write e.g. 512Mi or 1Gi (powers of 1024), 500M (powers of 1000), or a number of bytes"


def parse_size(value: int | str) -> int:
    """Bytes in ``value`` (an integer of bytes, or text such as ``512Mi``).

    Raises ValueError, with a message that quotes ``value``, when it is not a size
    or is not more than 0; a fraction of a byte is rounded down.
    """
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a size")
    if isinstance(value, int):
        size = value
    else:
        match = _SIZE.fullmatch(value.strip())
        if match is None:
            raise ValueError(f"{value!r} is not a size (units: Ki, Mi, Gi, K, M, G)")
        number, unit = match[1], match[2] or ""
        if not unit and "." in number:
            raise ValueError(f"{value!r} is not a whole number of bytes")
        size = int(float(number) * _UNITS[unit])
    if size <= 0:
        raise ValueError(f"{value!r} is not more than 0 bytes")
    return size


def format_size(size: int) -> str:
    """``size`` bytes in the largest binary unit that divides it: 536870912 -> 512Mi."""
    for unit in ("Gi", "Mi", "Ki"):
        if size % _UNITS[unit] == 0:
            return f"{size // _UNITS[unit]}{unit}"
    return str(size)
