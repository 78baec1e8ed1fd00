"""The bundle's spec (scripts/digitpad.spec), checked without running PyInstaller.

Building the bundle takes many minutes, so it is not part of the test suite: scripts/build_bundle
--check builds it and runs the frozen program. These tests guard what can break it unnoticed:
an app import of a module the spec leaves out, a resource file left behind, a CUDA library
torch loads being dropped.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

# trains or runs subprocesses: minutes on a loaded 2-core machine (the suite's default is 120 s)
pytestmark = pytest.mark.timeout(300)

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "scripts" / "digitpad.spec"


def spec_settings(root: Path = ROOT) -> dict:
    """The spec's settings and helpers: everything above its Analysis() call, run as PyInstaller
    would run it, with the spec's folder at root/scripts."""
    text = SPEC.read_text(encoding="utf-8")
    head = text[: text.index("a = Analysis(")]
    namespace = {"SPECPATH": str(root / "scripts"), "__file__": str(SPEC)}
    exec(compile(head, str(SPEC), "exec"), namespace)
    return namespace


def test_every_resource_file_is_collected_into_resources(tmp_path):
    (tmp_path / "scripts").mkdir()
    res = tmp_path / "resources"
    (res / "extra").mkdir(parents=True)
    (res / "digitnet.safetensors").write_bytes(b"model")
    (res / "extra" / "notes.txt").write_text("x")
    (res / "lenet.safetensors.tmp").write_bytes(b"half-written")  # an atomic save in progress

    collected = spec_settings(tmp_path)["resources"]()

    assert sorted(collected) == [
        (str(res / "digitnet.safetensors"), "resources"),
        (str(res / "extra" / "notes.txt"), str(Path("resources") / "extra")),
    ]


def test_cuda_libraries_torch_loads_are_kept():
    settings = spec_settings()
    if settings["CPU_ONLY"]:
        pytest.skip("CPU-only torch: no CUDA libraries to collect")
    kept = {Path(src).name for src, dest in settings["cuda13_binaries"]()}
    if not kept:
        pytest.skip("this torch takes its CUDA libraries from elsewhere than nvidia/cu13/lib")
    assert {dest for _, dest in settings["cuda13_binaries"]()} == {"nvidia/cu13/lib"}
    # What torch/__init__.py preloads from nvidia/cu13/lib (its _preload_cuda_deps list).
    for prefix in ("libcublasLt.so", "libcublas.so", "libnvrtc.so", "libnvrtc-builtins.so",
                   "libcudart.so", "libcupti.so", "libcufft.so", "libcurand.so",
                   "libnvJitLink.so", "libcusparse.so", "libcusolver.so", "libcufile.so"):
        assert any(name.startswith(prefix) for name in kept), prefix
    for dropped in ("libnvblas.so", "libcusolverMg.so", "libnvrtc.alt.so", "libnvperf_host.so"):
        assert not any(name.startswith(dropped) for name in kept), dropped


# Runs in a fresh interpreter: the spec's excluded modules are made unfindable, as they are in
# the frozen bundle, then the app's own self-test, a training epoch and an eval run.
HARNESS = textwrap.dedent("""
    import sys
    sys.path.insert(0, {tests!r})
    from test_bundle import spec_settings

    settings = spec_settings()

    def excluded(name):
        return (any(name == e or name.startswith(e + ".") for e in settings["EXCLUDES"])
                or settings["TEST_PACKAGE"].search(name) is not None)

    class Hidden:
        def __init__(self, finder):
            self.finder = finder
        def find_spec(self, name, path=None, target=None):
            return None if excluded(name) else self.finder.find_spec(name, path, target)
        def __getattr__(self, attr):
            return getattr(self.finder, attr)

    sys.meta_path[:] = [Hidden(f) for f in sys.meta_path]
    before = set(sys.modules)  # this harness itself imported pytest
    try:
        import triton  # installed beside torch here, left out of the bundle
    except ModuleNotFoundError:
        print("triton hidden")

    from digitpad.__main__ import main
    data, out = sys.argv[1], sys.argv[2]
    for argv in (["--self-test"],
                 ["train", "--model", "lenet", "--epochs", "1", "--data", data, "--out", out],
                 ["eval", out, "--data", data]):
        code = main(argv)
        print("exit", argv[0], code, flush=True)
        if code:
            sys.exit(code)
    leaked = sorted(m for m in set(sys.modules) - before if excluded(m))
    print("excluded modules imported:", leaked)
    sys.exit(1 if leaked else 0)
""")


def test_the_app_runs_without_the_modules_the_bundle_leaves_out(tiny_mnist, tmp_path):
    harness = HARNESS.format(tests=str(ROOT / "tests"))
    result = subprocess.run(
        [sys.executable, "-c", harness, str(tiny_mnist), str(tmp_path / "lenet.safetensors")],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "self-test passed" in output
    assert "exit train 0" in output and "exit eval 0" in output
    assert (tmp_path / "lenet.safetensors").is_file()
    assert "excluded modules imported: []" in output
    if importlib.util.find_spec("triton") is not None:
        assert "triton hidden" in output  # the hiding works, so the run above means something
