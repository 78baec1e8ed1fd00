"""Can Qt open a window here? Answered before QApplication exists, without importing Qt.

When no platform plugin can start, QApplication's constructor calls qFatal and the process
aborts (SIGABRT) with a generic message that often blames the wrong library. So the app asks
first, the way Qt would try: the plugins it would pick, in order; for each, does its shared
library load (its system libraries are installed), and does its display server answer. The
first that passes is what Qt will use; if none does, the person gets one line naming the cause
and the fix.

``scripts/run`` uses the same table (``python -m digitpad.app.platform_check --packages``) to
install the missing Debian packages before the first launch.
"""

from __future__ import annotations

import ctypes
import os
import re
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path

# Libraries Qt's xcb and wayland plugins load that a minimal Debian/Ubuntu system may lack,
# by soname -> the Debian package holding it. Sonames not listed follow Debian's naming rule.
DEBIAN_PACKAGES = {
    "libGL.so.1": "libgl1",
    "libEGL.so.1": "libegl1",
    "libGLX.so.0": "libglx0",
    "libOpenGL.so.0": "libopengl0",
    "libX11.so.6": "libx11-6",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libdbus-1.so.3": "libdbus-1-3",
    "libwayland-client.so.0": "libwayland-client0",
    "libwayland-cursor.so.0": "libwayland-cursor0",
    "libwayland-egl.so.1": "libwayland-egl1",
}

# The system libraries Qt's xcb plugin and its Qt libraries load (ldd on PySide6 6.11). When
# one of them is there but broken (dlopen: "file too short", "invalid ELF header"), ldd stops at
# the first, so each is then tried on its own to name them all in one line.
XCB_PLUGIN_LIBS = (
    "libxcb.so.1", "libxcb-cursor.so.0", "libxcb-icccm.so.4", "libxcb-util.so.1",
    "libxcb-image.so.0", "libxcb-keysyms.so.1", "libxcb-randr.so.0", "libxcb-render-util.so.0",
    "libxcb-shm.so.0", "libxcb-sync.so.1", "libxcb-xfixes.so.0", "libxcb-render.so.0",
    "libxcb-shape.so.0", "libxcb-xkb.so.1", "libxkbcommon.so.0", "libxkbcommon-x11.so.0",
    "libX11-xcb.so.1", "libX11.so.6", "libGL.so.1", "libEGL.so.1", "libglib-2.0.so.0",
    "libfontconfig.so.1", "libfreetype.so.6", "libdbus-1.so.3",
)

# Plugin names as QT_QPA_PLATFORM / -platform spell them -> the plugin's file name stem.
_PLUGIN_FILES = {"wayland": "libqwayland", "wayland-egl": "libqwayland"}

EXIT_NO_WINDOW = 3


@dataclass
class PlatformProblem:
    platform: str
    cause: str  # one sentence
    fix: str  # one sentence
    missing_libs: tuple[str, ...] = ()


def debian_package(soname: str) -> str:
    """libxcb-icccm.so.4 -> libxcb-icccm4; libxkbcommon-x11.so.0 -> libxkbcommon-x11-0."""
    if soname in DEBIAN_PACKAGES:
        return DEBIAN_PACKAGES[soname]
    m = re.match(r"^(lib[\w.+-]+?)\.so\.(\d+)", soname)
    if not m:
        return soname
    base, major = m.group(1).lower(), m.group(2)
    return f"{base}-{major}" if base[-1].isdigit() else f"{base}{major}"


def plugins_dir() -> Path | None:
    """Qt's platform plugin folder of the installed PySide6, found without importing Qt."""
    import importlib.util

    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    for base in spec.submodule_search_locations:
        for rel in ("Qt/plugins/platforms", "plugins/platforms"):
            folder = Path(base) / rel
            if folder.is_dir():
                return folder
    return None


# Qt's own command-line options that take a value (QGuiApplication / QApplication).
QT_VALUE_OPTIONS = frozenset({
    "platform", "platformpluginpath", "platformtheme", "plugin", "qmljsdebugger", "style",
    "stylesheet", "session", "display", "geometry", "name", "title", "qwindowgeometry",
    "qwindowicon", "qwindowtitle", "screen",
})


def split_qt_args(argv: list[str]) -> tuple[list[str], list[str]]:
    """(the rest, Qt's options) with every Qt option spelled as Qt takes it.

    Qt reads ``-platform offscreen`` only: ``-platform=offscreen`` was ignored (and the
    default plugin then aborted), ``--platform`` is the GNU habit. All three are accepted
    and handed on as ``-platform offscreen``.
    """
    rest: list[str] = []
    qt: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        name, eq, value = arg.lstrip("-").partition("=")
        if arg.startswith("-") and not arg.startswith("---") and name in QT_VALUE_OPTIONS:
            if eq:
                qt += [f"-{name}", value]
            elif i + 1 < len(argv):
                qt += [f"-{name}", argv[i + 1]]
                i += 1
            else:
                rest.append(arg)  # no value: let the caller's parser say so
        else:
            rest.append(arg)
        i += 1
    return rest, qt


def _requested(argv: list[str]) -> list[str] | None:
    """Platforms named by -platform NAME or QT_QPA_PLATFORM (``a;b`` lists fallbacks)."""
    spec = None
    for i, a in enumerate(argv):
        if a in ("-platform", "--platform") and i + 1 < len(argv):
            spec = argv[i + 1]
        elif a.startswith("-platform="):
            spec = a.split("=", 1)[1]
    spec = spec or os.environ.get("QT_QPA_PLATFORM")
    if not spec:
        return None
    names = [part.split(":", 1)[0].strip() for part in spec.split(";")]
    return [n for n in names if n]


def candidates(argv: list[str]) -> list[str]:
    """The plugins Qt will try, in its order (Qt 6 on Linux prefers Wayland in a Wayland session)."""
    named = _requested(argv)
    if named:
        return named
    if os.environ.get("WAYLAND_DISPLAY") or os.environ.get("XDG_SESSION_TYPE") == "wayland":
        return ["wayland", "xcb"]
    return ["xcb"]


def _plugin_file(folder: Path, name: str) -> Path | None:
    stem = _PLUGIN_FILES.get(name, f"libq{name}")
    for p in sorted(folder.glob(f"{stem}*.so")):
        return p
    return None


def available_platforms(folder: Path) -> list[str]:
    names = set()
    for p in folder.glob("libq*.so"):
        n = p.name[len("libq"):-len(".so")]
        names.add("wayland" if n.startswith("wayland") else n)
    return sorted(names)


def _unloadable(soname: str) -> bool:
    try:
        ctypes.CDLL(soname, mode=getattr(os, "RTLD_LAZY", 1) | ctypes.RTLD_LOCAL)
        return False
    except OSError:
        return True


_DLOPEN_FAILURE = re.compile(r"(?:^|/|\s)(lib[\w.+-]+\.so[\w.]*): (?:cannot open shared object file"
                             r"|file too short|invalid ELF header|wrong ELF class)")


def _missing_libraries(plugin: Path) -> tuple[str, ...]:
    """Sonames the plugin cannot load (absent or broken); empty when dlopen succeeds."""
    try:
        ctypes.CDLL(str(plugin), mode=getattr(os, "RTLD_LAZY", 1) | ctypes.RTLD_LOCAL)
        return ()
    except OSError as exc:
        first = _DLOPEN_FAILURE.findall(str(exc))
    # dlopen names only the first missing library; ldd lists them all, when it is there
    try:
        import subprocess

        out = subprocess.run(["ldd", str(plugin)], capture_output=True, text=True, timeout=10).stdout
        listed = re.findall(r"^\s*(\S+) => not found", out, flags=re.M)
    except (OSError, subprocess.SubprocessError):
        listed = []
    broken = [s for s in XCB_PLUGIN_LIBS if _unloadable(s)] if "xcb" in plugin.name else []
    seen = list(dict.fromkeys(listed + first + broken))
    if getattr(sys, "frozen", False):
        # A bundle keeps Qt's own libraries beside the executable, where dlopen from the
        # plugin's folder may not look; only system libraries are the person's to install.
        seen = [s for s in seen if not s.startswith(("libQt6", "libicu", "libpyside", "libshiboken"))]
        return tuple(seen)
    return tuple(seen) or ("(unknown library)",)


def _x_connect_once(display: str) -> bool:
    """One xcb_connect to ``display``: True when it succeeds."""
    try:
        xcb = ctypes.CDLL("libxcb.so.1")
    except OSError:
        return False
    xcb.xcb_connect.restype = ctypes.c_void_p
    xcb.xcb_connect.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
    xcb.xcb_connection_has_error.argtypes = [ctypes.c_void_p]
    xcb.xcb_disconnect.argtypes = [ctypes.c_void_p]
    conn = xcb.xcb_connect(display.encode(), None)
    try:
        return xcb.xcb_connection_has_error(conn) == 0
    finally:
        if conn:
            xcb.xcb_disconnect(conn)


# A server busy with a client that just quit can refuse one connection; ask again for up to
# this long before calling it dead (a launch right after a quit once failed on one refusal).
X_PROBE_SECONDS = 2.0
_X_PROBE_PAUSES = (0.1, 0.2, 0.4, 0.6, 0.8)


def _local_socket_missing(display: str) -> bool:
    """True for ``:N`` whose Unix socket is not there: nothing to wait for."""
    m = re.fullmatch(r":(\d+)(\.\d+)?", display)
    return bool(m) and not Path(f"/tmp/.X11-unix/X{m.group(1)}").exists()


def _x_server_answers(display: str) -> str | None:
    """None when an X client can connect to ``display``; else why not."""
    try:
        ctypes.CDLL("libxcb.so.1")
    except OSError:
        return "libxcb.so.1 is missing"
    deadline = time.monotonic() + X_PROBE_SECONDS
    pauses = iter(() if _local_socket_missing(display) else _X_PROBE_PAUSES)
    while True:
        if _x_connect_once(display):
            return None
        pause = next(pauses, None)
        if pause is None or time.monotonic() + pause > deadline:
            return f"the X server at DISPLAY={display} does not answer"
        time.sleep(pause)


def _wayland_answers(name: str) -> str | None:
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    path = name if name.startswith("/") else os.path.join(runtime, name)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(1.0)
    try:
        s.connect(path)
        return None
    except OSError:
        return f"no Wayland compositor answers at {path}"
    finally:
        s.close()


def _check_one(folder: Path, name: str) -> PlatformProblem | None:
    plugin = _plugin_file(folder, name)
    if plugin is None:
        avail = ", ".join(available_platforms(folder))
        return PlatformProblem(name, f"there is no Qt platform plugin named {name!r}",
                               f"use one of: {avail} (QT_QPA_PLATFORM or -platform)")
    missing = _missing_libraries(plugin)
    if missing:
        pkgs = " ".join(dict.fromkeys(debian_package(s) for s in missing))
        return PlatformProblem(
            name, f"Qt's {name} plugin needs system libraries that are missing: {', '.join(missing)}",
            f"install them (Debian/Ubuntu: sudo apt-get install {pkgs}), or run scripts/run, "
            "which installs them", missing)
    if name == "xcb":
        display = os.environ.get("DISPLAY", "")
        if not display:
            return PlatformProblem(name, "no X display is set (DISPLAY is empty)",
                                   "run it from a desktop session, or check the installation "
                                   "with: digitpad --self-test")
        why = _x_server_answers(display)
        if why:
            return PlatformProblem(name, why, "start the X server or set DISPLAY to one that "
                                   "runs (or check the installation with: digitpad --self-test)")
    elif name == "wayland":
        wd = os.environ.get("WAYLAND_DISPLAY", "wayland-0")
        why = _wayland_answers(wd)
        if why:
            return PlatformProblem(name, why, "unset WAYLAND_DISPLAY or set it to a running "
                                   "compositor's socket")
    return None


def check(argv: list[str] | None = None) -> PlatformProblem | None:
    """None when Qt will find a working platform plugin; else the first candidate's problem."""
    if not sys.platform.startswith(("linux", "freebsd")):
        return None  # Windows and macOS always have their native plugin
    folder = plugins_dir()
    if folder is None:
        return None  # not our PySide6 layout (e.g. a frozen bundle): let Qt decide
    problems: dict[str, PlatformProblem] = {}
    for name in candidates(list(argv or [])):
        problem = _check_one(folder, name)
        if problem is None:
            return None
        problems[name] = problem
    if _requested(list(argv or [])):
        return next(iter(problems.values()))
    # Qt's own choice (wayland, then xcb): name the problem a person can fix. X11 is what
    # most setups end up on, so its missing libraries come first; a Wayland plugin that only
    # lacks libraries was merely tried because WAYLAND_DISPLAY happened to be set.
    xcb, wayland = problems.get("xcb"), problems.get("wayland")
    if xcb is not None and xcb.missing_libs:
        return xcb
    if wayland is not None and not wayland.missing_libs:
        return wayland
    return xcb or wayland


def message(problem: PlatformProblem) -> str:
    return f"digitpad: cannot open the window: {problem.cause}; {problem.fix}."


def missing_packages(platform: str = "xcb") -> list[str]:
    """Debian packages holding the libraries the ``platform`` plugin cannot load."""
    folder = plugins_dir()
    plugin = _plugin_file(folder, platform) if folder else None
    if plugin is None:
        return []
    return list(dict.fromkeys(debian_package(s) for s in _missing_libraries(plugin)))


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--packages"]:
        print(" ".join(missing_packages(args[1] if len(args) > 1 else "xcb")))
        return 0
    problem = check(args)
    if problem is None:
        print("ok: Qt can open a window here")
        return 0
    print(message(problem))
    return EXIT_NO_WINDOW


if __name__ == "__main__":
    raise SystemExit(main())
