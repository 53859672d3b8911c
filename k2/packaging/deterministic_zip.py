"""A zip whose bytes depend only on the files' paths and contents.

Entries go in sorted order with one fixed timestamp and normalised permissions, so rebuilding the
same tree gives the same archive and the same hash (CDK then sees no change to deploy).
"""

from __future__ import annotations

import stat
import zipfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

# The earliest time a zip entry can carry.
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
_EXECUTABLE = 0o755
_REGULAR = 0o644


def zip_entry(path: PurePosixPath, executable: bool) -> zipfile.ZipInfo:
    """The header for one file: fixed time, Unix permissions rw-r--r-- or rwxr-xr-x."""
    info = zipfile.ZipInfo(path.as_posix(), date_time=ZIP_EPOCH)
    info.create_system = 3  # Unix, so the permissions below are honoured on extraction
    info.external_attr = (stat.S_IFREG | (_EXECUTABLE if executable else _REGULAR)) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def write_zip(root: Path, files: Iterable[PurePosixPath], destination: Path) -> int:
    """Zip `files` (relative to `root`) into `destination` (deflate, zlib's default level 6);
    returns the archive's size."""
    with zipfile.ZipFile(destination, "w") as archive:
        for path in sorted(files):
            source = root / path
            executable = bool(source.stat().st_mode & stat.S_IXUSR)
            with source.open("rb") as data, archive.open(zip_entry(path, executable), "w") as entry:
                while chunk := data.read(1024 * 1024):
                    entry.write(chunk)
    return destination.stat().st_size
