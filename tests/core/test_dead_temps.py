"""A killed save's .NAME.<pid>.*.tmp is removed at the next start of any writer when its pid
is gone, however fresh (issue 24.8); a live writer's temp is left alone."""

from __future__ import annotations

import subprocess
import sys

from digitpad.core.io.files import write_atomically
from digitpad.core.nets.checkpoint import claim_model_output


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def leftovers(folder, name: str, live: int):
    dead = folder / f".{name}.{dead_pid()}.k1ll3d.tmp"
    alive = folder / f".{name}.{live}.wr1t1n.tmp"
    for p in (dead, alive):
        p.write_bytes(b"\0" * 4096)  # fresh: the 60 s age rule would keep both
    return dead, alive


def test_the_next_write_removes_a_dead_writers_fresh_temp(tmp_path):
    target = tmp_path / "sample.png"
    dead, alive = leftovers(tmp_path, target.name, live=1)  # pid 1 is always running
    write_atomically(target, b"png", 0o644)
    assert not dead.exists() and alive.exists()
    assert target.read_bytes() == b"png"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([alive.name, target.name])


def test_a_claim_removes_a_dead_writers_fresh_temp(tmp_path):
    target = tmp_path / "m.safetensors"
    dead, alive = leftovers(tmp_path, target.name, live=1)
    with claim_model_output(target):
        pass
    assert not dead.exists() and alive.exists()
