"""Output files that never destroy what ncsolve did not write.

Every writer (``--output``, ``--plot``) goes through :func:`check_target` before
any work and :func:`write_atomic` at the end:

- a symbolic link is followed (the file it names is written, the link stays);
- a folder, device, FIFO or socket is refused (nothing is opened, so a FIFO cannot
  block the run);
- an existing non-empty regular file is refused unless the caller recognizes it
  as its own resumable output, or ``force`` is given;
- the final file appears whole or not at all (a temporary file in the same folder,
  then a rename), with the mode of the file it replaces, or else the mode the
  umask gives a new file;
- :func:`locked` holds an exclusive lock for a whole run, so two runs cannot
  write one file at once.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
import tempfile
from typing import Callable

from .validation import invalid

FORCE = "add --force (force=True) to replace it"


def real_path(path) -> str:
    """The file a path names, symbolic links followed."""
    return os.path.realpath(os.fspath(path))


def check_target(path, param: str = "output", *, force: bool = False,
                 ours: Callable[[str], bool] | None = None) -> str:
    """Refuse an output path that cannot or must not be written; return the real path.

    Parameters
    ----------
    path : str
    param : str
        The option named in a refusal.
    force : bool
        Replace an existing regular file that is not ours.
    ours : callable, optional
        ``ours(real_path)`` is true for an existing file that this run may continue
        (a resumable output of the same sweep).

    Raises
    ------
    ProblemError
        For a missing or unwritable folder, a folder, device, FIFO or socket, or
        an existing file that is not ours (without ``force``).
    """
    real = real_path(path)
    folder = os.path.dirname(real)
    if not os.path.isdir(folder):
        raise invalid(param, f"folder {folder!r} does not exist; create it or choose "
                      "another path")
    try:
        info = os.stat(real)
    except FileNotFoundError:
        info = None
    except OSError as error:
        raise invalid(param, f"cannot use {path!r} ({error.strerror}); "
                      "choose another path") from None
    if info is not None and stat.S_ISDIR(info.st_mode):
        raise invalid(param, f"{path!r} is a folder; give a file name")
    if info is not None and not stat.S_ISREG(info.st_mode):
        raise invalid(param, f"{path!r} is {_kind(info.st_mode)}, not a regular "
                      "file; give a file name")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise invalid(param, f"cannot write to folder {folder!r}; choose another path")
    if info is None or info.st_size == 0 or force:
        return real
    if ours is not None and ours(real):
        return real
    raise invalid(param, f"{path!r} exists and is not an output of this run; "
                  f"choose another file, or {FORCE}")


def _kind(mode: int) -> str:
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


def new_file_mode() -> int:
    """The mode the umask gives a new file (0o666 without the umask's bits)."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def write_atomic(path, data: str | bytes) -> None:
    """Write the whole file or nothing: a temporary file in the same folder, then a
    rename onto the real path (a symbolic link stays a link). The file keeps the mode
    of the regular file it replaces; a new file gets the umask's mode."""
    real = real_path(path)
    try:
        old = os.stat(real)
        mode = stat.S_IMODE(old.st_mode) if stat.S_ISREG(old.st_mode) else None
    except FileNotFoundError:
        mode = None
    if mode is None:
        mode = new_file_mode()
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(real), prefix=".ncsolve-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.encode("utf-8") if isinstance(data, str) else data)
            handle.flush()
            os.fchmod(handle.fileno(), mode)
        os.replace(tmp, real)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def lock_path(path) -> str:
    """The lock file of an output: a hidden file beside it."""
    real = real_path(path)
    return os.path.join(os.path.dirname(real), f".{os.path.basename(real)}.ncsolve-lock")


@contextlib.contextmanager
def locked(path, param: str = "output"):
    """Hold an exclusive lock on ``path`` for the body, or refuse at once when another
    run holds it. The lock file is removed (under the lock) at the end; a killed run
    leaves it behind unlocked, and the next run takes it over."""
    name = lock_path(path)
    fd = _acquire(name, path, param)
    try:
        yield name
    finally:
        with contextlib.suppress(OSError):
            if os.path.samestat(os.fstat(fd), os.stat(name)):
                os.unlink(name)
        os.close(fd)


def _acquire(name: str, path, param: str) -> int:
    while True:
        fd = os.open(name, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            os.close(fd)
            if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise invalid(param, f"another ncsolve run is writing {os.fspath(path)!r}; "
                              "wait for it to end or choose another file") from None
            raise
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(name))
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)  # removed by the run that held it: lock the new one
