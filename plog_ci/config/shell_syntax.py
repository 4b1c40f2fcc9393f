"""Shell syntax in a command PLog runs without a shell (``service.run``, a
``service.setup`` step written as a string).

PLog splits such a command with ``shlex.split`` and runs the words as a program and
its arguments, so ``cd app && python main.py`` would run a program called ``cd``.
``shell_syntax`` finds what only a shell understands, outside quotes: the control
and redirection operators of POSIX (XCU 2.9, 2.7: ``&&``, ``||``, ``|``, ``;``,
``&``, ``>``, ``>>``, ``<``, ``2>&1``), command substitution (``$(...)``, a
backquote), and a first word that is a shell builtin no program stands for
(``cd``, ``export``, ``source``, ``.``, ``set``). ``${NAME}``, ``$$``, ``{port}`` and
quoted text (``python -c "print(1); print(2)"``) are not shell syntax here.
"""

from __future__ import annotations

import re
import shlex

BUILTINS = frozenset({"cd", "export", "source", ".", "set"})
HINT = (
    "put the commands in a script in the repository and run that, e.g. 'sh start.sh'; "
    "'cd DIR' is service.workdir"
)
_OPERATOR = re.compile(r"\d*>&\d*|&&|\|\||>>|\$\(|[|;&<>`]")


def _unquoted_words(command: str) -> list[str]:
    """The words of ``command`` as ``shlex.split`` (POSIX mode) cuts them, with every
    quoted or backslash-escaped character replaced by a space-free placeholder
    (``\\0``), so an operator found in them was written bare."""
    words: list[str] = []
    word: list[str] = []
    started = False
    quote = ""
    chars = iter(command)
    for char in chars:
        if quote == "'":
            if char == "'":
                quote = ""
            else:
                word.append("\0")
        elif quote == '"':
            if char == '"':
                quote = ""
            elif char == "\\":
                next(chars, "")
                word.append("\0")
            else:
                word.append("\0")
        elif char in "'\"":
            quote, started = char, True
        elif char == "\\":
            next(chars, "")
            word.append("\0")
            started = True
        elif char.isspace():
            if started or word:
                words.append("".join(word))
            word, started = [], False
        else:
            word.append(char)
    if started or word:
        words.append("".join(word))
    return words


def shell_syntax(command: str) -> str | None:
    """What in ``command`` only a shell understands (``'&&'``, ``'cd'``), or None.

    An operator wins over a builtin (``cd app && run`` gives ``'&&'``). A command
    ``shlex.split`` cannot split (an open quote) gives None: that error is
    reported on its own.
    """
    try:
        argv = shlex.split(command)
    except ValueError:
        return None
    for word in _unquoted_words(command):
        match = _OPERATOR.search(word)
        if match:
            return match.group(0)
    return argv[0] if argv and argv[0] in BUILTINS else None


def problem(command: str) -> str | None:
    """The message for a command with shell syntax (the hint is ``HINT``), or None."""
    found = shell_syntax(command)
    if found is None:
        return None
    if found in BUILTINS:
        return f"{found!r} is a shell builtin, not a program, and no shell runs this command"
    return f"{found!r} is shell syntax, and no shell runs this command"
