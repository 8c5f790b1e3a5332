"""Install the Debian packages a local component needs (Orthanc, npm, Chromium) when they are missing.

CI is a fresh root Debian machine: tests and make targets install what they use themselves. Not root: one line
that says which command to run.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence

__all__ = ["DebianInstallError", "apt_install"]


class DebianInstallError(RuntimeError):
    """apt-get could not install the packages (or this is not root)."""


def apt_install(packages: Sequence[str]) -> None:
    """`apt-get install -y` the packages as root, with one `apt-get update` and retry; DebianInstallError otherwise."""
    names = " ".join(packages)
    if os.geteuid() != 0:
        raise DebianInstallError(f"{names}: not installed and this is not root: run `apt-get install {names}`")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    command = ["apt-get", "install", "-y", "-q", *packages]
    if subprocess.run(command, env=env, capture_output=True).returncode == 0:
        return
    # A fresh machine has no package lists yet: update once, then try again.
    subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, check=False)
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise DebianInstallError(f"apt-get install {names} failed: {done.stderr.strip()[-300:]}")
