"""Small file-system helpers shared by the downloader and the patch writer.

Kept apart from :mod:`koocr.download` so that rendering and training import nothing of the
download stack (a machine that only trains, e.g. a lent GPU box, need not have it).
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import tempfile


def remove(path: str) -> None:
    """Deletes a file, link or folder tree; a missing path is fine."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        os.remove(path)


def private_tmpdir(folder: str, prefix: str) -> str:
    """A temp folder tagged with our pid, so later runs can tell abandoned ones."""
    for stale in glob.glob(os.path.join(folder, f"{prefix}*")):
        pid = re.match(r"(\d+)-", os.path.basename(stale)[len(prefix) :])
        if pid and not alive(int(pid.group(1))):
            remove(stale)  # left by a run that was killed
    return tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-", dir=folder)


def alive(pid: int) -> bool:
    """Whether a process with this id exists (True where the platform cannot tell)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists but is not ours, or the platform cannot tell
        return True
    return True
