"""How the person at the prompt calls wirewatch, for the commands the CLI suggests.

A hint that says ``wirewatch crawl`` is wrong in a fresh shell when wirewatch lives in a venv
that is not activated (``make run`` installs it in ``.venv``): there it must say
``.venv/bin/wirewatch crawl``.
"""

from __future__ import annotations

import shlex
import shutil
import sys
from pathlib import Path


def command() -> str:
    """``wirewatch`` when that name on ``$PATH`` is this installation's script; else the
    script's path (relative to the working folder when it is below it); else
    ``python -m wirewatch`` with this interpreter."""
    script = Path(sys.executable).parent / "wirewatch"
    if not script.is_file():
        return f"{shlex.quote(sys.executable)} -m wirewatch"
    found = shutil.which("wirewatch")
    if found and Path(found).resolve() == script.resolve():
        return "wirewatch"
    try:
        return shlex.quote(str(script.absolute().relative_to(Path.cwd())))
    except ValueError:  # not below the working folder
        return shlex.quote(str(script.absolute()))


def with_config(config_file: Path) -> str:
    """:func:`command` with ``--config`` when ``config_file`` is not the one found by default
    (``$WIREWATCH_CONFIG``, else ``./wirewatch.toml``)."""
    from wirewatch.config import config_path

    if config_path(None).resolve() == config_file.resolve():
        return command()
    return f"{command()} --config {shlex.quote(str(config_file))}"
