"""One module per ``plog`` verb; ``plog_ci.cli`` builds the group from them.

A command module imports only click and light modules at its top: whatever is
heavy (scipy, numpy, flask, jinja2, httpx, rich, pygit2, ...) is imported in
the body of the command that needs it, so every ``plog`` start pays only for
the verb it runs (``python -m bench cli_startup`` measures it).
"""
