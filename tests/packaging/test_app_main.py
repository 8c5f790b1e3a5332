"""`python3 -u /opt/holoscan/app/`, the platforms' launch command, runs the packaged app under Holoscan's stack limit.

A folder laid out as the MAP's application root (packaging/app_main.py as its __main__.py, one app under apps/)
is run exactly as the Workflow Manager's Docker plugin and holoscan-cli's command do: by its directory.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.packaging._load import REPO

# The fake app reports what the real one would depend on: its stack limit, argv and how Python was started.
APP = """
import json, resource, sys
print(json.dumps({"stack": resource.getrlimit(resource.RLIMIT_STACK)[0], "argv": sys.argv[1:],
                  "unbuffered": "-u" in sys.orig_argv,
                  "name": __name__, "module": __spec__.name}))
"""


def _app_root(tmp_path: Path, *apps: str) -> Path:
    root = tmp_path / "app"
    for name in apps:
        (root / "apps" / name).mkdir(parents=True)
        (root / "apps" / "__init__.py").write_text("")
        (root / "apps" / name / "__init__.py").write_text("")
        (root / "apps" / name / "__main__.py").write_text(APP)
    shutil.copy2(REPO / "packaging" / "app_main.py", root / "__main__.py")
    return root


def _launch(root: Path, *args: str, soft_stack: int = 8 << 20, env: dict | None = None):
    def limit() -> None:
        hard = resource.getrlimit(resource.RLIMIT_STACK)[1]
        resource.setrlimit(resource.RLIMIT_STACK, (soft_stack, hard))

    clean = {k: v for k, v in os.environ.items() if k not in ("MSK_MAPS_APP_MODULE", "MSK_MAPS_STACK_RAISED")}
    return subprocess.run(
        [sys.executable, "-u", f"{root}/", *args],
        capture_output=True,
        text=True,
        preexec_fn=limit,
        env={**clean, **(env or {})},
        cwd=root.parent,
    )


def test_the_folder_runs_its_one_app_with_the_stack_raised_and_the_flags_kept(tmp_path):
    hard = resource.getrlimit(resource.RLIMIT_STACK)[1]
    if hard != resource.RLIM_INFINITY and hard < 32 << 20:
        pytest.fail("this machine's hard stack limit is below 32 MiB: the re-exec cannot be shown here")
    out = _launch(_app_root(tmp_path, "demo"), "--resume", "--workers", "1")
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout)
    assert seen["stack"] == 32 << 20  # raised from 8 MiB, in the process the app runs in
    assert seen["argv"] == ["--resume", "--workers", "1"]
    assert seen["unbuffered"]  # -u survived the re-exec
    assert seen["name"] == "__main__" and seen["module"] == "apps.demo.__main__"


def test_a_large_enough_stack_is_left_alone(tmp_path):
    hard = resource.getrlimit(resource.RLIMIT_STACK)[1]
    enough = 64 << 20 if hard == resource.RLIM_INFINITY else hard  # `ulimit -s` sets the hard limit too
    out = _launch(_app_root(tmp_path, "demo"), soft_stack=enough)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["stack"] == enough


def test_the_module_named_by_the_image_wins_and_two_apps_without_it_are_refused(tmp_path):
    root = _app_root(tmp_path, "first", "second")
    refused = _launch(root)
    assert refused.returncode != 0 and "set MSK_MAPS_APP_MODULE; found 2 apps" in refused.stderr
    chosen = _launch(root, env={"MSK_MAPS_APP_MODULE": "apps.second"})
    assert chosen.returncode == 0, chosen.stderr
    assert json.loads(chosen.stdout)["module"] == "apps.second.__main__"
