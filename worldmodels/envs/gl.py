"""Pick an offscreen OpenGL backend for MuJoCo before dm_control is imported.

dm_control reads MUJOCO_GL once, at import time; unset, it tries GLFW first, which fails on a
headless machine only later, at the first render. So when MUJOCO_GL is unset we probe EGL, then
OSMesa, each in a subprocess (a failing GL library can abort the process that loads it), and export
the first that renders a 64x64 frame. Worker processes inherit the variables.

`python -m worldmodels.envs.gl [--quiet]` exits 0 (printing the backend) when MuJoCo can render,
1 otherwise; scripts/ensure_gl.sh uses it to decide whether to install the Debian packages.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

#: Offscreen backends, in the order we try them.
BACKENDS: tuple[str, ...] = ("egl", "osmesa")
#: Debian packages that provide them (what scripts/ensure_gl.sh installs).
GL_PACKAGES = "libegl1 libegl-mesa0 libgl1-mesa-dri (EGL) or libosmesa6 (OSMesa)"

# A dm_control render of one 64x64 frame: the same code path the envs use.
_PROBE = """
from dm_control import mujoco
xml = "<mujoco><worldbody><light pos='0 0 2'/><geom type='sphere' size='0.1'/></worldbody></mujoco>"
frame = mujoco.Physics.from_xml_string(xml).render(64, 64)
assert frame.shape == (64, 64, 3), frame.shape
"""

_chosen: str | None = None  # cached for this process
_rendered = False  # a GL context exists in this process (see `note_rendering`)


def probe_backend(backend: str, timeout: float = 120.0) -> bool:
    """True when dm_control renders a 64x64 frame with MUJOCO_GL=`backend` (in a subprocess)."""
    env = dict(os.environ, MUJOCO_GL=backend, PYOPENGL_PLATFORM=backend)
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _PROBE], env=env, capture_output=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return False
    return proc.returncode == 0


def _export(backend: str) -> None:
    os.environ["MUJOCO_GL"] = backend
    if backend in BACKENDS:
        # PyOpenGL must load the matching platform library (EGL/OSMesa), not GLX.
        os.environ.setdefault("PYOPENGL_PLATFORM", backend)


def ensure_mujoco_gl() -> str:
    """Return the MuJoCo GL backend, choosing and exporting one when MUJOCO_GL is unset.

    A MUJOCO_GL set by the user is trusted as is. Raises RuntimeError (one line naming the Debian
    packages) when no backend renders.
    """
    global _chosen
    preset = os.environ.get("MUJOCO_GL")
    if preset:
        _export(preset)
        return preset
    if _chosen is None:
        for backend in BACKENDS:
            if probe_backend(backend):
                _chosen = backend
                break
        else:
            raise RuntimeError(
                f"MuJoCo cannot render offscreen (tried MUJOCO_GL={', '.join(BACKENDS)}): install "
                f"the Debian packages {GL_PACKAGES}, e.g. with `make gl`"
            )
    _export(_chosen)
    return _chosen


def note_rendering() -> None:
    """Record that this process rendered (so it holds a GL context, and Mesa's threads)."""
    global _rendered
    _rendered = True


def rendered_in_process() -> bool:
    """True once an env rendered in this process. Forking such a process can deadlock the child
    at its first render (seen with Mesa EGL), so vector envs then start workers with spawn."""
    return _rendered


def main(argv: list[str] | None = None) -> int:
    """Exit 0 and print the backend when MuJoCo renders; 1 (with the reason) otherwise."""
    parser = argparse.ArgumentParser(
        prog="python -m worldmodels.envs.gl", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quiet", action="store_true", help="print nothing, only the exit code")
    args = parser.parse_args(argv)
    preset = os.environ.get("MUJOCO_GL")
    try:
        backend = ensure_mujoco_gl()
    except RuntimeError as e:
        if not args.quiet:
            print(e, file=sys.stderr)
        return 1
    # A preset MUJOCO_GL is trusted by the library; the command checks that it really renders.
    if preset and not probe_backend(preset):
        if not args.quiet:
            print(
                f"MuJoCo cannot render with MUJOCO_GL={preset} (set in the environment): "
                f"unset it, or install the Debian packages {GL_PACKAGES}",
                file=sys.stderr,
            )
        return 1
    if not args.quiet:
        print(backend)
    return 0


if __name__ == "__main__":
    sys.exit(main())
