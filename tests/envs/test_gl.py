"""MUJOCO_GL selection: probing order, the one-line error, the CLI, and dm_control imported for
proprio before a pixel env needs GL."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from worldmodels.envs import gl


@pytest.fixture
def unset_gl(monkeypatch):
    monkeypatch.delenv("MUJOCO_GL", raising=False)
    monkeypatch.delenv("PYOPENGL_PLATFORM", raising=False)
    monkeypatch.setattr(gl, "_chosen", None)


def test_probes_egl_then_osmesa_and_exports(unset_gl, monkeypatch):
    tried = []

    def probe(backend):
        tried.append(backend)
        return backend == "osmesa"

    monkeypatch.setattr(gl, "probe_backend", probe)
    assert gl.ensure_mujoco_gl() == "osmesa"
    assert tried == ["egl", "osmesa"]
    assert os.environ["MUJOCO_GL"] == "osmesa" and os.environ["PYOPENGL_PLATFORM"] == "osmesa"
    assert gl.ensure_mujoco_gl() == "osmesa" and len(tried) == 2  # cached: no second probe


def test_nothing_renders_is_one_line_naming_the_packages(unset_gl, monkeypatch):
    monkeypatch.setattr(gl, "probe_backend", lambda backend: False)
    with pytest.raises(RuntimeError) as err:
        gl.ensure_mujoco_gl()
    message = str(err.value)
    assert "\n" not in message
    for needle in ("libegl1", "libegl-mesa0", "libgl1-mesa-dri", "libosmesa6", "make gl"):
        assert needle in message
    assert "MUJOCO_GL" not in os.environ


def test_preset_backend_is_trusted(monkeypatch):
    monkeypatch.setenv("MUJOCO_GL", "egl")
    monkeypatch.delenv("PYOPENGL_PLATFORM", raising=False)
    monkeypatch.setattr(gl, "probe_backend", lambda backend: pytest.fail("probed a preset"))
    assert gl.ensure_mujoco_gl() == "egl" and os.environ["PYOPENGL_PLATFORM"] == "egl"


def _run(code_or_args, **env):
    clean = {k: v for k, v in os.environ.items() if k not in ("MUJOCO_GL", "PYOPENGL_PLATFORM")}
    return subprocess.run(
        [sys.executable, *code_or_args],
        capture_output=True,
        text=True,
        env={**clean, "OMP_NUM_THREADS": "1", **env},
        timeout=120,
    )


def test_cli_exit_codes():
    ok = _run(["-m", "worldmodels.envs.gl"])
    assert ok.returncode == 0 and ok.stdout.strip() in gl.BACKENDS, ok.stderr
    assert _run(["-m", "worldmodels.envs.gl", "--quiet"]).returncode == 0
    bad = _run(["-m", "worldmodels.envs.gl"], MUJOCO_GL="nonsense")
    assert bad.returncode == 1 and "MUJOCO_GL=nonsense" in bad.stderr


def test_pixels_after_dm_control_was_imported_for_proprio():
    # MUJOCO_GL unset: the proprio env imports dm_control first (it then picks GLFW, which cannot
    # render headless); the pixel env afterwards must still render.
    code = (
        "from worldmodels.envs.make import make_env\n"
        "make_env({'suite': 'dmc', 'task': 'cartpole_swingup', 'obs': 'proprio'}).reset(seed=0)\n"
        "env = make_env({'suite': 'dmc', 'task': 'cartpole_swingup', 'obs': 'pixels'})\n"
        "assert env.reset(seed=0)[0]['image'].std() > 10\n"
    )
    result = _run(["-c", code])
    assert result.returncode == 0, result.stderr[-2000:]
