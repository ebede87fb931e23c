"""trainer=debug shrinks whatever the agent is and wins over recipes (+experiment=...)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from omegaconf import OmegaConf

from worldmodels.config.compose import compose_config, resolved
from worldmodels.training.debug import DEBUG_PLANNER, apply_debug

ROOT = Path(__file__).resolve().parents[2]
QUIET = ["device=cpu", "logger.progress=false", "logger.video=false"]


def _debug(overrides: list[str]) -> dict:
    return resolved(apply_debug(compose_config(overrides), overrides))


@pytest.mark.parametrize(
    "recipe", sorted(p.stem for p in (ROOT / "configs/experiment").glob("*.yaml"))
)
def test_debug_wins_over_every_recipe(recipe):
    overrides = [f"+experiment={recipe}", "trainer=debug"]
    cfg = _debug(overrides)
    debug = OmegaConf.to_container(OmegaConf.load(ROOT / "configs/trainer/debug.yaml"))
    debug.pop("defaults")
    assert {k: cfg["trainer"][k] for k in debug} == debug  # 160 frames, one checkpoint
    assert cfg["trainer"]["checkpoint_every"] == cfg["trainer"]["steps"] == 160
    assert cfg["size"] == OmegaConf.to_container(OmegaConf.load(ROOT / "configs/size/xs.yaml"))
    plain = resolved(compose_config(overrides))  # what Hydra alone composes: the recipe's clocks
    assert plain["trainer"]["steps"] >= 100_000  # the CPU benchmark's 100k, the others' 500k+


def test_command_line_values_still_win():
    cfg = _debug(["+experiment=plan_vs_learn", "trainer=debug", "trainer.steps=320", "size=s",
                  "agent=cem", "agent.candidates=100"])  # fmt: skip
    assert cfg["trainer"]["steps"] == 320 and cfg["trainer"]["checkpoint_every"] == 160
    units = cfg["size"]["units"]
    assert units != 64 and cfg["agent"]["world_model"]["units"] == units
    assert cfg["agent"]["candidates"] == 100 and cfg["agent"]["iterations"] == 2
    assert _debug(["agent=cem"])["agent"]["candidates"] == 1000  # no debug: untouched


def test_debug_runs_eager_unless_the_command_compiles():
    plain = resolved(compose_config(["+experiment=cpu_proprio_dreamer"]))["agent"]
    assert plain["compile"] and plain["world_model"]["compile"]  # the recipe compiles
    cfg = _debug(["+experiment=cpu_proprio_dreamer", "trainer=debug"])["agent"]
    assert not cfg["compile"] and not cfg["world_model"]["compile"]
    kept = _debug(["+experiment=cpu_proprio_dreamer", "trainer=debug", "agent.compile=true"])
    assert kept["agent"]["compile"] and not kept["agent"]["world_model"]["compile"]


@pytest.mark.parametrize("agent", ["cem", "mppi", "random_shooting"])
def test_debug_shrinks_every_planner(agent):
    cfg = _debug([f"agent={agent}", "trainer=debug"])["agent"]
    full = resolved(compose_config([f"agent={agent}"]))["agent"]
    for key, cap in DEBUG_PLANNER.items():
        assert cfg[key] == min(full[key], cap)
    assert agent != "random_shooting" or cfg["iterations"] == 1  # one round stays one round


def _train(tmp_path: Path, *overrides: str) -> tuple[Path, float]:
    run_dir = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "MUJOCO_GL": "egl"}
    start = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "worldmodels.train", *overrides, *QUIET, f"run_dir={run_dir}"],
        env=env, cwd=tmp_path, check=True, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    return run_dir, time.monotonic() - start


def _frames(run_dir: Path) -> int:
    state = torch.load(run_dir / "checkpoint" / "state.pt", map_location="cpu", weights_only=False)
    return int(state["counters"]["env_frames"])


def test_debug_planner_run_finishes_fast(tmp_path):
    """A debug MPPI run took 216 s with PlaNet's planner budget; the real entry point now."""
    run_dir, seconds = _train(
        tmp_path, "agent=mppi", "trainer=debug", "env=dummy", "env.image_size=16"
    )
    assert seconds < 30, f"a debug agent=mppi run took {seconds:.0f} s"
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert config["agent"]["candidates"] == 64 and config["agent"]["horizon"] == 4
    assert _frames(run_dir) == 160


def test_debug_recipe_run_finishes_with_one_checkpoint(tmp_path):
    run_dir, seconds = _train(tmp_path, "+experiment=model_free_baselines", "trainer=debug")
    assert seconds < 60, f"a debug recipe run took {seconds:.0f} s"
    lines = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert lines[-1]["env_frames"] == 160 and _frames(run_dir) == 160
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert config["trainer"]["checkpoint_every"] == 160  # one checkpoint, at the end
