"""Which filesystem a benchmark's database sits on, and a second one without online discard.

Dropping a heartbeat partition costs what the filesystem takes to free its
files, and ext4 mounted with `discard` sends every freed extent to the disk as
a TRIM before the truncation returns. Measured on this project's VM, a dropped
day of 214 MB took 47 ms there and 6 ms on ext4 without it (the same disk, the
page cache cold both times). Whether a database host mounts with online
discard varies (some cloud images do, most distributions default to a weekly
`fstrim`), so the retention benchmark measures on both when it can: on the
temporary folder's own filesystem, and on ext4 made without discard on a loop
device over the same disk.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.harness import say


def mount_of(folder: Path) -> tuple[str, str, list[str]]:
    """The mount point, filesystem type and mount options of the filesystem that holds `folder`."""
    best: tuple[str, str, list[str]] = ("/", "unknown", [])
    mounts = Path("/proc/mounts")
    resolved = str(folder.resolve())
    for line in mounts.read_text().splitlines() if mounts.exists() else []:
        _, point, kind, options, *_ = line.split()
        inside = resolved == point or resolved.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best[0]):
            best = (point, kind, options.split(","))
    return best


def describe(folder: Path) -> str:
    """'ext4 with online discard' or 'ext4 without online discard', for a figure's name and note."""
    _, kind, options = mount_of(folder)
    return f"{kind} {'with' if 'discard' in options else 'without'} online discard"


def has_online_discard(folder: Path) -> bool:
    return "discard" in mount_of(folder)[2]


def _run(*command: str) -> str:
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip()


@contextmanager
def ext4_without_discard(size_bytes: int) -> Iterator[Path | None]:
    """A fresh ext4 without online discard on a loop device (direct I/O) over a sparse file; None if it can't be made.

    It needs root and util-linux's losetup and e2fsprogs' mkfs.ext4; without
    them the benchmark says so and measures on the temporary folder alone.
    """
    missing = [tool for tool in ("losetup", "mkfs.ext4", "mount", "umount") if shutil.which(tool) is None]
    if os.name != "posix" or os.geteuid() != 0 or missing:
        say(f"  no second filesystem: making one needs root and {', '.join(missing) or 'losetup and mkfs.ext4'}")
        yield None
        return
    base = Path(tempfile.gettempdir())
    free = shutil.disk_usage(base).free
    if free < size_bytes * 1.2:
        say(f"  no second filesystem: it needs {size_bytes / 1e9:.0f} GB and {base} has {free / 1e9:.0f} GB free")
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="cronrelay-bench-fs-") as scratch:
        image, point = Path(scratch) / "ext4.img", Path(scratch) / "mnt"
        point.mkdir()
        with image.open("wb") as sparse:
            sparse.truncate(size_bytes)
        device = _run("losetup", "--find", "--show", "--direct-io=on", str(image))
        mounted = False
        try:
            _run("mkfs.ext4", "-q", "-F", "-E", "nodiscard", device)
            _run("mount", "-o", "nodiscard", device, str(point))
            mounted = True
            yield point
        finally:
            if mounted:
                _run("umount", str(point))
            _run("losetup", "--detach", device)
