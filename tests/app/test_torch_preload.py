"""torch's libraries mapped by ctypes before the import (which then holds the GIL less)."""

import subprocess
import sys

import pytest


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")
def test_preloaded_libraries_give_a_working_torch():
    code = ("import sys\n"
            "from digitpad.app.torch_preload import preload_torch_libraries\n"
            "done = preload_torch_libraries()\n"
            "assert 'torch' not in sys.modules\n"
            "maps = open('/proc/self/maps').read()\n"
            "assert 'libtorch_cpu.so' in maps, 'the big library is mapped before the import'\n"
            "import torch, torch.nn.functional as F\n"
            "y = F.conv2d(torch.ones(1, 1, 5, 5), torch.ones(1, 1, 3, 3))\n"
            "assert y.shape == (1, 1, 3, 3) and float(y[0, 0, 0, 0]) == 9.0\n"
            "assert preload_torch_libraries() == []  # torch is imported: nothing to do\n"
            "print(','.join(done))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "libtorch_global_deps.so,libtorch_python.so"
