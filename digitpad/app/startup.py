"""How long since this process started: for the self-test's startup line and the bench.

Linux: the process start time from /proc/self/stat against /proc/uptime (10 ms resolution), so
the interpreter's own start-up counts. Elsewhere: from the first import of this module, which
``digitpad/__main__.py`` does first thing.
"""

from __future__ import annotations

import os
import time

_T0 = time.perf_counter()


def _proc_age() -> float | None:
    try:
        with open("/proc/self/stat", "rb") as f:
            stat = f.read().decode("ascii", "replace")
        with open("/proc/uptime", "rb") as f:
            uptime = float(f.read().split()[0])
        # field 22 (starttime, clock ticks since boot); the command name (field 2) may hold spaces
        fields = stat[stat.rindex(")") + 2:].split()
        start_ticks = int(fields[19])
        return max(0.0, uptime - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError, AttributeError):
        return None


_OFFSET = _proc_age()
_OFFSET = (_OFFSET if _OFFSET is not None else 0.0)


def seconds_since_start() -> float:
    """Seconds since the process started (since this module's import where /proc is missing)."""
    return _OFFSET + (time.perf_counter() - _T0)
