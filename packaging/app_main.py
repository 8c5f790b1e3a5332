"""The MAP's application entry: `python3 -u /opt/holoscan/app/` runs the packaged app (becomes app/__main__.py).

That command is how the platforms start a MAP: MONAI Deploy Express' sample workflows give it to the
Workflow Manager's Docker plugin (entrypoint `/bin/bash -c`, no image entrypoint), and holoscan-cli writes
it as app.json#command. Neither raises the stack limit Holoscan wants, so this file does: when the soft
limit is below 32 MiB and the hard limit allows more, it raises it and re-executes the same command line
(threads take their default stack size from the limit the process started with). Then it runs the app's
module as `python -m` would. Kept to the standard library: it runs before anything heavy is imported.

The module: $MSK_MAPS_APP_MODULE (the image sets it), else the only app packaged beside this file.
"""

from __future__ import annotations

import os
import resource
import runpy
import sys
from pathlib import Path

__all__ = ["raise_stack_and_reexec", "app_module"]

STACK_BYTES = 32 * 1024 * 1024
_REEXEC_MARK = "MSK_MAPS_STACK_RAISED"


def raise_stack_and_reexec() -> None:
    """Raise RLIMIT_STACK towards 32 MiB and re-exec this command line once when that changed it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_STACK)
    if soft == resource.RLIM_INFINITY or soft >= STACK_BYTES or os.environ.get(_REEXEC_MARK):
        return
    target = STACK_BYTES if hard == resource.RLIM_INFINITY else min(hard, STACK_BYTES)
    if target <= soft:
        return
    resource.setrlimit(resource.RLIMIT_STACK, (target, hard))
    os.environ[_REEXEC_MARK] = "1"
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])


def app_module(app_root: Path) -> str:
    """The module to run: $MSK_MAPS_APP_MODULE, else the one `apps/<name>/__main__.py` under `app_root`."""
    named = os.environ.get("MSK_MAPS_APP_MODULE")
    if named:
        return named
    found = sorted(p.parent.name for p in app_root.glob("apps/*/__main__.py"))
    if len(found) != 1:
        raise SystemExit(f"error: set MSK_MAPS_APP_MODULE; found {len(found)} apps under {app_root / 'apps'}")
    return f"apps.{found[0]}"


if __name__ == "__main__":
    raise_stack_and_reexec()
    root = Path(__file__).resolve().parent
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    runpy.run_module(app_module(root), run_name="__main__", alter_sys=True)
