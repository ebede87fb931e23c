"""The sweep launchers in configs/hydra/launcher compose with the project config: `local` (joblib,
parallel on this machine) and `slurm` (submitit), whose values turn into a valid sbatch script."""

from __future__ import annotations

from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf

CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs"


def _launcher(overrides: list[str]) -> dict:
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("config", overrides=overrides, return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)  # the launcher config interpolates hydra.* values
    out = OmegaConf.to_container(cfg.hydra.launcher, resolve=True)
    assert isinstance(out, dict)
    return out


def test_local_launcher_is_parallel_joblib():
    launcher = _launcher(["hydra/launcher=local"])
    assert launcher["_target_"].endswith("JoblibLauncher")
    assert launcher["n_jobs"] == 2
    assert _launcher(["hydra/launcher=local", "hydra.launcher.n_jobs=4"])["n_jobs"] == 4


def test_slurm_launcher_makes_a_valid_sbatch_script(tmp_path, monkeypatch):
    # hydra-submitit-launcher (the `slurm` extra, also in `dev` so CI checks this file).
    import submitit
    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf

    monkeypatch.setenv("WM_SLURM_PARTITION", "gpu-long")
    launcher = _launcher(
        [
            "hydra/launcher=slurm",
            "hydra.launcher.timeout_min=90",
            "hydra.launcher.array_parallelism=8",
        ]
    )
    assert launcher["_target_"].endswith("SlurmLauncher")
    assert launcher["partition"] == "gpu-long" and launcher["account"] is None
    assert launcher["array_parallelism"] == 8
    # What hydra-submitit-launcher does with these values, on a machine without SLURM: submitit
    # only checks that `srun` exists before it writes the sbatch file.
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "srun").write_text("#!/bin/sh\nexit 0\n")
    (fake / "srun").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake}:{Path('/usr/bin')}:{Path('/bin')}")
    params = {k: v for k, v in launcher.items() if k not in ("_target_", "submitit_folder")}
    executor = submitit.AutoExecutor(
        cluster="slurm",
        folder=str(tmp_path / "sub"),
        slurm_max_num_timeout=params.pop("max_num_timeout"),
    )
    base = set(OmegaConf.structured(BaseQueueConf).keys())
    executor.update_parameters(
        **{k if k in base else f"slurm_{k}": v for k, v in params.items()}
    )  # rejects unknown keys
    script = executor._executor._make_submission_file_text("python -m worldmodels.train", "uid")
    for line in (
        "--partition=gpu-long",
        "--time=90",
        "--gpus-per-node=1",
        "--cpus-per-task=8",
        "--mem=64GB",
    ):
        assert f"#SBATCH {line}" in script
    assert "export MUJOCO_GL=egl" in script
