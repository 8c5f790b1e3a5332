"""The output lock (one run per folder and shard, stale locks taken over) and the writability check."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from run.lock import OutputInUse, OutputNotWritable, check_writable, lock_output
from run.plan import Shard

REPO = Path(__file__).resolve().parents[2]


@contextmanager
def _held_in_child(root: Path, shard: Shard) -> Iterator[subprocess.Popen]:
    """Another process holding the lock of `root`/`shard` until the block ends."""
    code = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from run.lock import lock_output
        from run.plan import Shard
        lock = lock_output(Path({str(root)!r}), Shard({shard.num_parts}, {shard.part_id}))
        print("locked", flush=True)
        sys.stdin.read()
        """
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code], cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout.readline().strip() == "locked"
        yield child
    finally:
        child.stdin.close()
        child.wait(30)


def test_a_second_run_on_the_same_folder_is_refused_naming_the_holder(tmp_path: Path) -> None:
    with _held_in_child(tmp_path, Shard()) as child:
        with pytest.raises(OutputInUse) as refused:
            lock_output(tmp_path, Shard())
    message = str(refused.value)
    assert f"pid {child.pid} on {socket.gethostname()} since 20" in message
    assert "\n" not in message and str(tmp_path) in message
    # the holder is gone: its lock (file removed on release) is free again
    with lock_output(tmp_path, Shard()) as lock:
        assert json.loads(lock.path.read_text())["pid"] == os.getpid()
    assert not lock.path.exists()


def test_a_lock_left_by_a_killed_run_is_taken_over(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # a pid that is surely dead now
    stale = {"pid": child.pid, "host": socket.gethostname(), "started": "2026-01-01T00:00:00+00:00"}
    (tmp_path / ".msk-maps.lock").write_text(json.dumps(stale))
    with caplog.at_level(logging.WARNING), lock_output(tmp_path, Shard()) as lock:
        assert json.loads(lock.path.read_text())["pid"] == os.getpid()
    assert f"pid {child.pid}" in caplog.text and "gone" in caplog.text


def test_shards_of_one_job_share_a_folder_but_nothing_else_does(tmp_path: Path) -> None:
    with _held_in_child(tmp_path, Shard(3, 0)) as child:
        with lock_output(tmp_path, Shard(3, 1)), lock_output(tmp_path, Shard(3, 2)):
            pass
        with pytest.raises(OutputInUse, match=rf"pid {child.pid} .*part 0 of 3"):
            lock_output(tmp_path, Shard(3, 0))
        with pytest.raises(OutputInUse, match=rf"in use by pid {child.pid} "):
            lock_output(tmp_path, Shard())  # a whole-folder run would plan part 0's studies too
        with pytest.raises(OutputInUse, match=rf"in use by pid {child.pid} "):
            lock_output(tmp_path, Shard(2, 1))


def test_an_output_folder_that_cannot_be_written_is_refused(tmp_path: Path) -> None:
    check_writable(tmp_path / "new" / "out")  # created
    assert (tmp_path / "new" / "out").is_dir() and not list((tmp_path / "new" / "out").iterdir())
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputNotWritable, match="cannot create output folder .*file/out"):
        check_writable(tmp_path / "file" / "out")
    frozen = tmp_path / "frozen"
    frozen.mkdir()
    # Immutable, so that even root (the CI user) can't write in it.
    subprocess.run(["chattr", "+i", str(frozen)], check=True)
    try:
        with pytest.raises(OutputNotWritable, match=f"output folder {frozen} is not writable: Operation not"):
            check_writable(frozen)
    finally:
        subprocess.run(["chattr", "-i", str(frozen)], check=True)
