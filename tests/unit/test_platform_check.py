"""The start check for Qt's xcb plugin: real loader output, the one-line message, the app's exit.

The two traces below are ``ldd PySide6/Qt/plugins/platforms/libqxcb.so`` (PySide6 6.11.3)
captured verbatim: on a fresh Debian 12 (a ``debootstrap --variant=minbase bookworm`` root,
25 libraries missing) and on the project's development machine before its X libraries were
installed (2 missing: the two the issue met after libxcb-cursor0).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from relattr_studio.core import platform_check
from relattr_studio.core.platform_check import (
    debian_package,
    elf_interpreter,
    find_xcb_plugin,
    missing_libraries,
    missing_libraries_message,
    parse_trace,
    will_use_xcb,
    xcb_start_problem,
)

LDD_FRESH_DEBIAN_12 = """\
	linux-vdso.so.1 (0x00007f41c2ba7000)
	libQt6XcbQpa.so.6 => /work/main/.venv/lib/python3.11/site-packages/PySide6/Qt/plugins/platforms/../../lib/libQt6XcbQpa.so.6 (0x00007f41c2ad9000)
	libQt6Gui.so.6 => /work/main/.venv/lib/python3.11/site-packages/PySide6/Qt/plugins/platforms/../../lib/libQt6Gui.so.6 (0x00007f41c1e00000)
	libGL.so.1 => not found
	libQt6Core.so.6 => /work/main/.venv/lib/python3.11/site-packages/PySide6/Qt/plugins/platforms/../../lib/libQt6Core.so.6 (0x00007f41c1600000)
	libxkbcommon.so.0 => not found
	libxkbcommon-x11.so.0 => not found
	libxcb-cursor.so.0 => not found
	libxcb-icccm.so.4 => not found
	libxcb-util.so.1 => not found
	libxcb-image.so.0 => not found
	libxcb-keysyms.so.1 => not found
	libxcb-randr.so.0 => not found
	libxcb-render-util.so.0 => not found
	libxcb-shm.so.0 => not found
	libxcb-sync.so.1 => not found
	libxcb-xfixes.so.0 => not found
	libxcb-render.so.0 => not found
	libxcb-shape.so.0 => not found
	libxcb-xkb.so.1 => not found
	libxcb.so.1 => not found
	libX11-xcb.so.1 => not found
	libX11.so.6 => not found
	libstdc++.so.6 => /lib/x86_64-linux-gnu/libstdc++.so.6 (0x00007f41c1200000)
	libm.so.6 => /lib/x86_64-linux-gnu/libm.so.6 (0x00007f41c29ef000)
	libgcc_s.so.1 => /lib/x86_64-linux-gnu/libgcc_s.so.1 (0x00007f41c29cf000)
	libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f41c141e000)
	libxcb-cursor.so.0 => not found
	libxcb-icccm.so.4 => not found
	libxcb-util.so.1 => not found
	libxcb-image.so.0 => not found
	libxcb-keysyms.so.1 => not found
	libxcb-randr.so.0 => not found
	libxcb-render.so.0 => not found
	libxcb-render-util.so.0 => not found
	libxcb-shape.so.0 => not found
	libxcb-shm.so.0 => not found
	libxcb-sync.so.1 => not found
	libxcb.so.1 => not found
	libxcb-xfixes.so.0 => not found
	libxcb-xkb.so.1 => not found
	libxkbcommon.so.0 => not found
	libglib-2.0.so.0 => not found
	libX11-xcb.so.1 => not found
	libX11.so.6 => not found
	libxkbcommon-x11.so.0 => not found
	libGL.so.1 => not found
	libgthread-2.0.so.0 => not found
	libEGL.so.1 => not found
	libfontconfig.so.1 => not found
	libX11.so.6 => not found
	libglib-2.0.so.0 => not found
	libQt6DBus.so.6 => /work/main/.venv/lib/python3.11/site-packages/PySide6/Qt/plugins/platforms/../../lib/libQt6DBus.so.6 (0x00007f41c1125000)
	libxkbcommon.so.0 => not found
	libGL.so.1 => not found
	libz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x00007f41c29a4000)
	libfreetype.so.6 => not found
	libgthread-2.0.so.0 => not found
	libicui18n.so.73 => /work/main/.venv/lib/python3.11/site-packages/PySide6/Qt/plugins/platforms/../../lib/libicui18n.so.73 (0x00007f41c0c00000)
	libicuuc.so.73 => /work/main/.venv/lib/python3.11/site-packages/PySide6/Qt/plugins/platforms/../../lib/libicuuc.so.73 (0x00007f41c0800000)
	libicudata.so.73 => /work/main/.venv/lib/python3.11/site-packages/PySide6/Qt/plugins/platforms/../../lib/libicudata.so.73 (0x00007f41be800000)
	libzstd.so.1 => /lib/x86_64-linux-gnu/libzstd.so.1 (0x00007f41c1d44000)
	/lib64/ld-linux-x86-64.so.2 (0x00007f41c2ba9000)
	libglib-2.0.so.0 => not found
	libgthread-2.0.so.0 => not found
	libdbus-1.so.3 => not found
	libpthread.so.0 => /lib/x86_64-linux-gnu/libpthread.so.0 (0x00007f41c299b000)
	libdl.so.2 => /lib/x86_64-linux-gnu/libdl.so.2 (0x00007f41c2996000)
"""

LDD_DEVELOPMENT_MACHINE = """\
	linux-vdso.so.1 (0x00007f8e5e9a1000)
	libQt6XcbQpa.so.6 => /work/main/.venv/lib/python3.11/site-packages/PySide6/Qt/plugins/platforms/../../lib/libQt6XcbQpa.so.6 (0x00007f8e5e8d3000)
	libQt6Gui.so.6 => /work/main/.venv/lib/python3.11/site-packages/PySide6/Qt/plugins/platforms/../../lib/libQt6Gui.so.6 (0x00007f8e5dc00000)
	libGL.so.1 => /lib/x86_64-linux-gnu/libGL.so.1 (0x00007f8e5e843000)
	libQt6Core.so.6 => /work/main/.venv/lib/python3.11/site-packages/PySide6/Qt/plugins/platforms/../../lib/libQt6Core.so.6 (0x00007f8e5d400000)
	libxkbcommon.so.0 => /lib/x86_64-linux-gnu/libxkbcommon.so.0 (0x00007f8e5e7fd000)
	libxkbcommon-x11.so.0 => /lib/x86_64-linux-gnu/libxkbcommon-x11.so.0 (0x00007f8e5e7f0000)
	libxcb-cursor.so.0 => /lib/x86_64-linux-gnu/libxcb-cursor.so.0 (0x00007f8e5e7e9000)
	libxcb-icccm.so.4 => not found
	libxcb-util.so.1 => /lib/x86_64-linux-gnu/libxcb-util.so.1 (0x00007f8e5e7e1000)
	libxcb-image.so.0 => /lib/x86_64-linux-gnu/libxcb-image.so.0 (0x00007f8e5e7db000)
	libxcb-keysyms.so.1 => not found
	libxcb-randr.so.0 => /lib/x86_64-linux-gnu/libxcb-randr.so.0 (0x00007f8e5e7c8000)
	libxcb-render-util.so.0 => /lib/x86_64-linux-gnu/libxcb-render-util.so.0 (0x00007f8e5d000000)
	libxcb-shm.so.0 => /lib/x86_64-linux-gnu/libxcb-shm.so.0 (0x00007f8e5e7c3000)
	libxcb-sync.so.1 => /lib/x86_64-linux-gnu/libxcb-sync.so.1 (0x00007f8e5e7bb000)
	libxcb-xfixes.so.0 => /lib/x86_64-linux-gnu/libxcb-xfixes.so.0 (0x00007f8e5e7b2000)
	libxcb-render.so.0 => /lib/x86_64-linux-gnu/libxcb-render.so.0 (0x00007f8e5e7a2000)
	libxcb-shape.so.0 => /lib/x86_64-linux-gnu/libxcb-shape.so.0 (0x00007f8e5e79d000)
	libxcb-xkb.so.1 => /lib/x86_64-linux-gnu/libxcb-xkb.so.1 (0x00007f8e5e780000)
	libxcb.so.1 => /lib/x86_64-linux-gnu/libxcb.so.1 (0x00007f8e5e756000)
	libX11-xcb.so.1 => /lib/x86_64-linux-gnu/libX11-xcb.so.1 (0x00007f8e5e751000)
	libX11.so.6 => /lib/x86_64-linux-gnu/libX11.so.6 (0x00007f8e5d2be000)
	libstdc++.so.6 => /lib/x86_64-linux-gnu/libstdc++.so.6 (0x00007f8e5cc00000)
	libm.so.6 => /lib/x86_64-linux-gnu/libm.so.6 (0x00007f8e5cf20000)
	libgcc_s.so.1 => /lib/x86_64-linux-gnu/libgcc_s.so.1 (0x00007f8e5e72f000)
	libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f8e5ca1e000)
	libxcb-icccm.so.4 => not found
	libxcb-keysyms.so.1 => not found
	libglib-2.0.so.0 => /lib/x86_64-linux-gnu/libglib-2.0.so.0 (0x00007f8e5c8e6000)
	libgthread-2.0.so.0 => /lib/x86_64-linux-gnu/libgthread-2.0.so.0 (0x00007f8e5e728000)
	libEGL.so.1 => /lib/x86_64-linux-gnu/libEGL.so.1 (0x00007f8e5e712000)
	libfontconfig.so.1 => /lib/x86_64-linux-gnu/libfontconfig.so.1 (0x00007f8e5dbb5000)
	libQt6DBus.so.6 => /work/main/.venv/lib/python3.11/site-packages/PySide6/Qt/plugins/platforms/../../lib/libQt6DBus.so.6 (0x00007f8e5ce45000)
	libz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x00007f8e5db96000)
	libfreetype.so.6 => /lib/x86_64-linux-gnu/libfreetype.so.6 (0x00007f8e5c81c000)
	libGLdispatch.so.0 => /lib/x86_64-linux-gnu/libGLdispatch.so.0 (0x00007f8e5d205000)
	libGLX.so.0 => /lib/x86_64-linux-gnu/libGLX.so.0 (0x00007f8e5db62000)
	libicui18n.so.73 => /work/main/.venv/lib/python3.11/site-packages/PySide6/Qt/plugins/platforms/../../lib/libicui18n.so.73 (0x00007f8e5c400000)
	libicuuc.so.73 => /work/main/.venv/lib/python3.11/site-packages/PySide6/Qt/plugins/platforms/../../lib/libicuuc.so.73 (0x00007f8e5c000000)
	libicudata.so.73 => /work/main/.venv/lib/python3.11/site-packages/PySide6/Qt/plugins/platforms/../../lib/libicudata.so.73 (0x00007f8e5a000000)
	libzstd.so.1 => /lib/x86_64-linux-gnu/libzstd.so.1 (0x00007f8e5c760000)
	/lib64/ld-linux-x86-64.so.2 (0x00007f8e5e9a3000)
	libXau.so.6 => /lib/x86_64-linux-gnu/libXau.so.6 (0x00007f8e5db5d000)
	libXdmcp.so.6 => /lib/x86_64-linux-gnu/libXdmcp.so.6 (0x00007f8e59c00000)
	libpcre2-8.so.0 => /lib/x86_64-linux-gnu/libpcre2-8.so.0 (0x00007f8e5c366000)
	libexpat.so.1 => /lib/x86_64-linux-gnu/libexpat.so.1 (0x00007f8e5ce1a000)
	libdbus-1.so.3 => /lib/x86_64-linux-gnu/libdbus-1.so.3 (0x00007f8e5c310000)
	libpng16.so.16 => /lib/x86_64-linux-gnu/libpng16.so.16 (0x00007f8e5c2da000)
	libbrotlidec.so.1 => /lib/x86_64-linux-gnu/libbrotlidec.so.1 (0x00007f8e5db50000)
	libpthread.so.0 => /lib/x86_64-linux-gnu/libpthread.so.0 (0x00007f8e5db49000)
	libdl.so.2 => /lib/x86_64-linux-gnu/libdl.so.2 (0x00007f8e5db44000)
	libbsd.so.0 => /lib/x86_64-linux-gnu/libbsd.so.0 (0x00007f8e5c2c4000)
	libsystemd.so.0 => /lib/x86_64-linux-gnu/libsystemd.so.0 (0x00007f8e5bf30000)
	libbrotlicommon.so.1 => /lib/x86_64-linux-gnu/libbrotlicommon.so.1 (0x00007f8e5c2a1000)
	libmd.so.0 => /lib/x86_64-linux-gnu/libmd.so.0 (0x00007f8e5c753000)
	libcap.so.2 => /lib/x86_64-linux-gnu/libcap.so.2 (0x00007f8e5db36000)
	libgcrypt.so.20 => /lib/x86_64-linux-gnu/libgcrypt.so.20 (0x00007f8e59eb9000)
	liblzma.so.5 => /lib/x86_64-linux-gnu/liblzma.so.5 (0x00007f8e5c272000)
	liblz4.so.1 => /lib/x86_64-linux-gnu/liblz4.so.1 (0x00007f8e5c24c000)
	libgpg-error.so.0 => /lib/x86_64-linux-gnu/libgpg-error.so.0 (0x00007f8e5c224000)
"""

# Every library the fresh Debian 12 lacked, and the package that ships it (each name checked
# with ``apt-cache policy`` on Debian 12, and installed there: ldd then finds them all).
FRESH_MISSING = {
    "libGL.so.1": "libgl1",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb.so.1": "libxcb1",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6",
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
    "libEGL.so.1": "libegl1",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libdbus-1.so.3": "libdbus-1-3",
}


def test_the_fresh_debian_trace_gives_every_missing_library_once_in_order():
    missing = parse_trace(LDD_FRESH_DEBIAN_12)
    assert missing == tuple(FRESH_MISSING)


def test_the_development_machine_trace_gives_the_two_the_issue_met():
    assert parse_trace(LDD_DEVELOPMENT_MACHINE) == ("libxcb-icccm.so.4", "libxcb-keysyms.so.1")


@pytest.mark.parametrize(("soname", "package"), [
    *FRESH_MISSING.items(),
    # Libraries the loaded ones pull in (present on a minimal Debian, or brought by apt).
    ("libgcc_s.so.1", "libgcc-s1"), ("libstdc++.so.6", "libstdc++6"), ("libc.so.6", "libc6"),
    ("libz.so.1", "zlib1g"), ("libGLdispatch.so.0", "libglvnd0"), ("libGLX.so.0", "libglx0"),
    ("libpng16.so.16", "libpng16-16"), ("libpcre2-8.so.0", "libpcre2-8-0"),
    ("liblz4.so.1", "liblz4-1"), ("libbrotlidec.so.1", "libbrotli1"), ("libXau.so.6", "libxau6"),
])
def test_debian_package_names(soname, package):
    assert debian_package(soname) == package


def test_debian_package_leaves_a_name_without_version_alone():
    assert debian_package("libqxcb.so") == "libqxcb.so"


def test_the_fresh_debian_message_is_one_line_naming_every_library_and_the_apt_command():
    message = missing_libraries_message(parse_trace(LDD_FRESH_DEBIAN_12), as_root=False, has_apt=True)
    assert "\n" not in message
    for soname in FRESH_MISSING:
        assert soname in message
    packages = list(dict.fromkeys(FRESH_MISSING.values()))
    assert len(packages) == 24
    assert message.endswith("install them with: sudo apt install " + " ".join(packages))
    assert "xcb-cursor0 is needed" not in message


def test_the_development_machine_message():
    message = missing_libraries_message(parse_trace(LDD_DEVELOPMENT_MACHINE), as_root=False, has_apt=True)
    assert message == (
        "relattr-studio: error: Qt cannot open a window: its xcb platform plugin needs system "
        "libraries that are missing (libxcb-icccm.so.4, libxcb-keysyms.so.1); install them with: "
        "sudo apt install libxcb-icccm4 libxcb-keysyms1")


def test_root_gets_the_command_without_sudo_and_other_systems_the_debian_names():
    missing = ("libxcb-icccm.so.4",)
    assert missing_libraries_message(missing, as_root=True, has_apt=True).endswith(
        "install them with: apt install libxcb-icccm4")
    assert missing_libraries_message(missing, as_root=False, has_apt=False).endswith(
        "install the packages that provide them (on Debian/Ubuntu: sudo apt install libxcb-icccm4)")


@pytest.mark.parametrize(("environ", "platform", "expected"), [
    ({}, "linux", True),  # Qt loads xcb and fails before it looks for a display
    ({"DISPLAY": ":0"}, "linux", True),
    ({"QT_QPA_PLATFORM": "xcb"}, "linux", True),
    ({"QT_QPA_PLATFORM": "xcb:nograb"}, "linux", True),
    ({"QT_QPA_PLATFORM": "offscreen", "DISPLAY": ":0"}, "linux", False),
    ({"QT_QPA_PLATFORM": "minimal"}, "linux", False),
    ({"QT_QPA_PLATFORM": "wayland"}, "linux", False),
    ({"QT_QPA_PLATFORM": "wayland;xcb"}, "linux", False),  # Qt has a fallback: let it decide
    ({"XDG_SESSION_TYPE": "wayland", "DISPLAY": ":0"}, "linux", False),
    ({"WAYLAND_DISPLAY": "wayland-0"}, "linux", False),
    ({"WAYLAND_DISPLAY": "wayland-0", "DISPLAY": ":0", "XDG_SESSION_TYPE": "x11"}, "linux", True),
    ({"DISPLAY": ":0", "QT_QPA_PLATFORM_PLUGIN_PATH": "/opt/plugins"}, "linux", False),
    ({"DISPLAY": ":0", "QT_PLUGIN_PATH": "/opt/qt"}, "linux", False),
    ({"DISPLAY": ":0"}, "darwin", False),
    ({}, "win32", False),
])
def test_will_use_xcb(environ, platform, expected):
    assert will_use_xcb(environ, platform=platform) is expected


def test_elf_interpreter_reads_the_loader_of_this_python_and_refuses_other_files(tmp_path):
    if not sys.platform.startswith("linux"):
        pytest.skip("ELF and a dynamic loader: Linux only")
    loader = elf_interpreter(os.path.realpath(sys.executable))
    assert loader is not None and Path(loader).is_file()
    (tmp_path / "text").write_text("not an ELF file")
    assert elf_interpreter(tmp_path / "text") is None


def _fake_pyside(root: Path) -> Path:
    """A PySide6 whose xcb plugin also needs ``libxcb-absent.so.1``, which no system has.

    The real plugin with one library name rewritten in place (same offsets, NUL-padded), next
    to the real Qt libraries (a link), as a package that shadows the installed PySide6.
    """
    real = find_xcb_plugin()
    if real is None or not sys.platform.startswith("linux"):
        pytest.skip("needs PySide6's xcb plugin on Linux")
    data = real.read_bytes()
    name = b"libxcb-keysyms.so.1\0"
    assert data.count(name) == 1
    platforms = root / "PySide6" / "Qt" / "plugins" / "platforms"
    platforms.mkdir(parents=True)
    (platforms / real.name).write_bytes(data.replace(name, b"libxcb-absent.so.1\0".ljust(len(name), b"\0")))
    (root / "PySide6" / "Qt" / "lib").symlink_to(real.parents[2] / "lib", target_is_directory=True)
    (root / "PySide6" / "__init__.py").write_text("")
    return platforms / real.name


def test_missing_libraries_asks_the_loader(tmp_path):
    plugin = _fake_pyside(tmp_path)
    assert "libxcb-absent.so.1" in missing_libraries(plugin)
    assert isinstance(missing_libraries(find_xcb_plugin()), tuple)  # the real one: traced
    (tmp_path / "empty.so").write_bytes(b"")
    assert missing_libraries(tmp_path / "empty.so") is None  # the loader refuses it: cannot tell


def test_a_check_that_fails_itself_lets_qt_try(monkeypatch):
    def broken():
        raise RuntimeError("the check itself broke")

    monkeypatch.setattr(platform_check, "find_xcb_plugin", broken)
    assert xcb_start_problem({"DISPLAY": ":0"}) is None


def test_the_app_says_one_line_and_exits_2_when_the_plugin_lacks_a_library(tmp_path):
    _fake_pyside(tmp_path / "site")
    env = {k: v for k, v in os.environ.items()
           if k not in ("QT_QPA_PLATFORM_PLUGIN_PATH", "QT_PLUGIN_PATH", "WAYLAND_DISPLAY")}
    env.update(QT_QPA_PLATFORM="xcb", DISPLAY=":0", PYTHONPATH=str(tmp_path / "site"),
               RELATTR_DATA_DIR=str(tmp_path / "data"))
    script = Path(sys.executable).with_name("relattr-studio")
    command = [str(script)] if script.is_file() else [sys.executable, "-m", "relattr_studio.app"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)
    lines = done.stderr.splitlines()
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and done.stdout == ""
    assert "libxcb-absent.so.1" in lines[0] and "apt install " in lines[0]
    assert "libxcb-absent1" in lines[0].split("apt install ", 1)[1]
    assert "Traceback" not in done.stderr
