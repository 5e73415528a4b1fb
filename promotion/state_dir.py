"""The state folder (`.lakegate/` by default): registry database, passwords, audit logs, locks.

It holds the local registry's user store (auth.db), its credentials file and the audit logs, so it is
private to its owner whatever existed before: a folder we own that others may read or enter is
tightened to 0700; one owned by someone else is refused (they can read or replace everything in it).
A path that is a file, or that cannot be created, is refused with one line (exit 6).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .errors import InvalidRequest


class StateDirError(InvalidRequest):
    """The state folder cannot be used (exit 6)."""


def ensure_state_dir(path: str | os.PathLike, *, create: bool = True) -> Path:
    """The state folder, existing and private (mode 0700, ours); StateDirError otherwise.
    With create=False a missing folder is an error too."""
    folder = Path(path)
    shown = str(path)
    try:
        info = folder.stat()
    except FileNotFoundError:
        if folder.is_symlink():
            raise StateDirError(f"--state-dir {shown} is a dangling symbolic link") from None
        if not create:
            raise StateDirError(f"--state-dir {shown} does not exist") from None
        try:
            folder.mkdir(mode=0o700, parents=True)
            os.chmod(folder, 0o700)  # mkdir's mode is filtered by the umask
        except FileExistsError:
            return ensure_state_dir(folder, create=False)  # created by a concurrent run meanwhile
        except OSError as error:
            raise StateDirError(f"--state-dir {shown} cannot be created ({error.strerror or type(error).__name__})") from None
        return folder
    except NotADirectoryError:
        raise StateDirError(f"--state-dir {shown} is inside a file, not a folder") from None
    except OSError as error:
        raise StateDirError(f"--state-dir {shown} cannot be used ({error.strerror or type(error).__name__})") from None
    if not stat.S_ISDIR(info.st_mode):
        raise StateDirError(f"--state-dir {shown} is a file, not a folder")
    if info.st_uid != os.getuid():
        raise StateDirError(f"--state-dir {shown} belongs to another user (uid {info.st_uid}); lakegate keeps passwords "
                            "there and uses only a folder of its own")
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        try:
            os.chmod(folder, 0o700)
        except OSError as error:
            raise StateDirError(f"--state-dir {shown} is readable by other users (mode {mode:04o}) and cannot be made "
                                f"private ({error.strerror or type(error).__name__})") from None
    return folder
