"""Can Qt's xcb platform plugin load? Asked before ``QApplication``, answered in one line.

PySide6's wheel ships Qt but not the X11 libraries its xcb plugin (``libqxcb.so``) links:
on a fresh Debian 12 the dynamic loader finds 25 of them missing (libxcb-*, libxkbcommon,
libGL, libEGL, fontconfig, freetype, glib, dbus). Qt then aborts with "xcb-cursor0 or
libxcb-cursor0 is needed" whichever library it is, even where libxcb-cursor0 is installed.
This module asks the dynamic loader which of the plugin's libraries it cannot find and says
which Debian/Ubuntu packages provide them.

No Qt here (PySide6 is located, never imported), so the answer comes before Qt can abort
and the logic is tested without a display. The check costs one run of the dynamic loader in
trace mode (a few milliseconds); anything it cannot tell is ``None``: let Qt try.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import struct
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

XCB_PLUGIN = "libqxcb.so"
# How long the loader may take to trace the plugin before the check gives up (it takes ms).
TRACE_TIMEOUT_S = 3.0

# Libraries whose Debian package is not the soname's stem plus its version (the rule of
# debian_package); every other library of the xcb plugin follows the rule.
_PACKAGE_OF_STEM: dict[str, str] = {
    "libglib-2.0": "libglib2.0-0",
    "libgthread-2.0": "libglib2.0-0",
    "libgobject-2.0": "libglib2.0-0",
    "libgio-2.0": "libglib2.0-0",
    "libGLdispatch": "libglvnd0",
    "libz": "zlib1g",
    "libbrotlicommon": "libbrotli1",
    "libbrotlidec": "libbrotli1",
    "libc": "libc6",
    "libm": "libc6",
    "libdl": "libc6",
    "libpthread": "libc6",
    "librt": "libc6",
}
_SONAME = re.compile(r"^(?P<stem>.+?)\.so\.(?P<major>\d+)(?:\.\d+)*$")
_NOT_FOUND = re.compile(r"^\s*(?P<soname>\S+)\s+=>\s+not found\s*$")


def debian_package(soname: str) -> str:
    """The Debian/Ubuntu package that ships ``soname`` (``libxcb-icccm.so.4`` -> ``libxcb-icccm4``).

    Debian names a library package after the soname: the stem in lower case, ``_`` as ``-``,
    then the major version, with a ``-`` between them where the stem ends in a digit
    (``libxkbcommon-x11.so.0`` -> ``libxkbcommon-x11-0``). The few exceptions among the
    plugin's libraries are listed. A name that is not a versioned soname is returned as is.
    """
    match = _SONAME.match(soname)
    if match is None:
        return soname
    stem, major = match["stem"], match["major"]
    if stem in _PACKAGE_OF_STEM:
        return _PACKAGE_OF_STEM[stem]
    name = stem.lower().replace("_", "-")
    return f"{name}-{major}" if name[-1].isdigit() else f"{name}{major}"


def parse_trace(text: str) -> tuple[str, ...]:
    """The sonames ``ldd`` (or the loader in trace mode) reports as ``=> not found``.

    In the order first reported, each once (a library two others need is listed twice).
    """
    found: dict[str, None] = {}
    for line in text.splitlines():
        match = _NOT_FOUND.match(line)
        if match:
            found.setdefault(match["soname"])
    return tuple(found)


def install_command(packages: Iterable[str], *, as_root: bool) -> str:
    """``sudo apt install P ...`` (no ``sudo`` for root, who may not have it)."""
    return ("" if as_root else "sudo ") + "apt install " + " ".join(packages)


def missing_libraries_message(sonames: Sequence[str], *, as_root: bool, has_apt: bool) -> str:
    """One line: which libraries are missing and the command that installs them.

    The packages follow the order of ``sonames``, each once. Where apt is absent the command
    is given as the Debian/Ubuntu one, since the package names are Debian's.
    """
    packages = list(dict.fromkeys(debian_package(s) for s in sonames))
    command = install_command(packages, as_root=as_root)
    how = f"install them with: {command}" if has_apt else (
        f"install the packages that provide them (on Debian/Ubuntu: {command})")
    return (f"relattr-studio: error: Qt cannot open a window: its xcb platform plugin needs "
            f"system libraries that are missing ({', '.join(sonames)}); {how}")


def will_use_xcb(environ: Mapping[str, str], *, platform: str = sys.platform) -> bool:
    """Whether Qt will load only its xcb plugin, so that a missing library stops the app.

    Linux only. ``QT_QPA_PLATFORM`` naming one platform decides (``xcb`` yes; ``offscreen``,
    ``minimal``, ``wayland`` no); a list (``wayland;xcb``) has a fallback, so Qt decides. Unset:
    a Wayland session may give Qt its wayland plugin, so no; otherwise Qt loads xcb, with or
    without ``DISPLAY`` (where the libraries are missing it fails before it looks for a display).
    A custom plugin path (``QT_QPA_PLATFORM_PLUGIN_PATH``, ``QT_PLUGIN_PATH``) is searched
    before PySide6's own plugin, which this check reads, so it leaves the answer to Qt.
    """
    if not platform.startswith("linux"):
        return False
    if environ.get("QT_QPA_PLATFORM_PLUGIN_PATH") or environ.get("QT_PLUGIN_PATH"):
        return False
    requested = environ.get("QT_QPA_PLATFORM", "").strip()
    if requested:
        names = [entry.split(":", 1)[0].strip() for entry in requested.split(";") if entry.strip()]
        return names == ["xcb"]
    if environ.get("XDG_SESSION_TYPE", "").lower() == "wayland":
        return False
    return not (environ.get("WAYLAND_DISPLAY") and not environ.get("DISPLAY"))


def find_xcb_plugin() -> Path | None:
    """PySide6's ``Qt/plugins/platforms/libqxcb.so``, found without importing PySide6."""
    spec = importlib.util.find_spec("PySide6")
    for location in (spec.submodule_search_locations or []) if spec else []:
        plugin = Path(location) / "Qt" / "plugins" / "platforms" / XCB_PLUGIN
        if plugin.is_file():
            return plugin
    return None


# Where an ELF header keeps e_phoff (and its width), e_phentsize/e_phnum, and where a program
# header keeps p_offset and p_filesz: by class, 1 = 32-bit, 2 = 64-bit.
_ELF_LAYOUT = {1: (0x1C, "I", 0x2A, 4, 16), 2: (0x20, "Q", 0x36, 8, 32)}
_PT_INTERP = 3


def elf_interpreter(path: str | Path) -> str | None:
    """The program interpreter (dynamic loader) an ELF executable names, or None."""
    with open(path, "rb") as f:
        header = f.read(64)
        if len(header) < 52 or header[:4] != b"\x7fELF" or header[4] not in _ELF_LAYOUT:
            return None
        phoff_at, word, phnum_at, offset_at, size_at = _ELF_LAYOUT[header[4]]
        order = "<" if header[5] == 1 else ">"
        (phoff,) = struct.unpack_from(order + word, header, phoff_at)
        phentsize, phnum = struct.unpack_from(order + "HH", header, phnum_at)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
        for start in range(0, len(table) - phentsize + 1, phentsize):
            if struct.unpack_from(order + "I", table, start)[0] != _PT_INTERP:
                continue
            (offset,) = struct.unpack_from(order + word, table, start + offset_at)
            (size,) = struct.unpack_from(order + word, table, start + size_at)
            f.seek(offset)
            return f.read(size).split(b"\0", 1)[0].decode() or None
    return None


def trace_command(plugin: Path) -> list[str] | None:
    """The command that lists the plugin's libraries, resolved or ``not found``.

    The loader this Python runs under, in trace mode, is what ``ldd`` runs too, without the
    shell script around it (3 to 9 ms here against ldd's 10 to 26 ms); ``ldd`` where the
    loader cannot be read.
    """
    try:
        loader = elf_interpreter(os.path.realpath(sys.executable))
    except OSError:
        loader = None
    if loader and os.access(loader, os.X_OK):
        return [loader, str(plugin)]
    ldd = shutil.which("ldd")
    return [ldd, str(plugin)] if ldd else None


def missing_libraries(plugin: Path, *, timeout: float = TRACE_TIMEOUT_S) -> tuple[str, ...] | None:
    """The libraries of ``plugin`` (and of what it links) the loader cannot find.

    ``()`` when all are found; None when the check cannot tell (no loader, a timeout, an
    error, output without the plugin's libraries): then the caller lets Qt try.
    """
    command = trace_command(plugin)
    if command is None:
        return None
    # The variable ldd sets: the loader lists the libraries instead of running anything.
    env = dict(os.environ, LD_TRACE_LOADED_OBJECTS="1")
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0 or "=>" not in done.stdout:
        return None
    return parse_trace(done.stdout)


def xcb_start_problem(environ: Mapping[str, str] | None = None) -> str | None:
    """The one-line message when Qt's xcb plugin would fail for missing libraries, else None.

    Never raises: a check that fails itself answers None, and the app lets Qt try.
    """
    environ = os.environ if environ is None else environ
    try:
        if not will_use_xcb(environ):
            return None
        plugin = find_xcb_plugin()
        missing = missing_libraries(plugin) if plugin is not None else None
        if not missing:
            return None
        return missing_libraries_message(missing, as_root=os.geteuid() == 0,
                                         has_apt=shutil.which("apt") is not None)
    except Exception:  # noqa: BLE001 - the check must never be why the app does not start
        return None
