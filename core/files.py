"""Files written whole: a reader never sees half of one."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def replace_file(file: Path, data: bytes) -> None:
    """Write ``data`` to ``file`` atomically (a temporary file beside it, then a rename),
    keeping the mode of the file it replaces (a new one is 0644)."""
    mode = file.stat().st_mode & 0o777 if file.exists() else 0o644
    handle, temporary = tempfile.mkstemp(dir=file.parent, prefix=f".{file.name}.")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.chmod(temporary, mode)
        os.replace(temporary, file)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
