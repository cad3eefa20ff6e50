"""``npm ci`` of a test's Node project (package.json + package-lock.json with integrity hashes,
from the registry): tests/adfs_double and tests/browser/axe."""

from __future__ import annotations

import fcntl
import hashlib
import subprocess
import tempfile
from pathlib import Path

import pytest


def npm_ci(folder: Path) -> None:
    """``npm ci`` once, when ``node_modules`` is missing or older than the lock file; a file
    lock keeps parallel workers from installing over each other."""
    digest = hashlib.sha256(str(folder).encode()).hexdigest()[:16]
    lock_path = Path(tempfile.gettempdir()) / f"npm-ci-{digest}.lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        # npm writes node_modules/.package-lock.json last: it marks a finished install
        marker = folder / "node_modules" / ".package-lock.json"
        lockfile = folder / "package-lock.json"
        if marker.exists() and marker.stat().st_mtime >= lockfile.stat().st_mtime:
            return
        done = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if done.returncode != 0:
            pytest.fail(f"npm ci in {folder} failed:\n{done.stderr[-2000:]}")
