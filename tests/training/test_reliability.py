"""Issue 13's defects, one test each, through the entry point (`worldmodels.train.run`: the same
compose, schema, resume and loop path as `python -m worldmodels.train`; the time slices, exit
codes and signals go through real processes in test_time_slices.py and test_kill_resume.py)."""

from __future__ import annotations

import json
import os
import signal
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from worldmodels.analysis.runs import discover_runs
from worldmodels.errors import RunFailed, UserError
from worldmodels.train import run
from worldmodels.training import checkpoint
from worldmodels.training.health import NonFiniteLossError

RANDOM = ["agent=random", "env=dummy", "env.obs=proprio"]


def _records(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def _status(run_dir: Path) -> dict:
    return json.loads((run_dir / "status.json").read_text())


def _strip(recs: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "wall_time" and "perf/" not in k} for r in recs]


def _largest_tensor_bytes(path: Path) -> tuple[int, int]:
    """(offset, size) of the biggest tensor's bytes inside a torch.save zip."""
    with zipfile.ZipFile(path) as archive:
        tensors = [i for i in archive.infolist() if "/data/" in i.filename]
        info = max(tensors, key=lambda i: i.file_size)
    with open(path, "rb") as f:
        f.seek(info.header_offset + 26)
        name_len, extra_len = np.frombuffer(f.read(4), "<u2")
    return info.header_offset + 30 + int(name_len) + int(extra_len), info.file_size


def test_1_garbled_checkpoint_bytes_fail_the_crc_check(run_overrides):
    run_dir = run(run_overrides(*RANDOM, name="r"))
    path = run_dir / "checkpoint" / checkpoint.STATE_FILE
    offset, size = _largest_tensor_bytes(path)
    data = bytearray(path.read_bytes())
    middle = offset + size // 2
    data[middle : middle + 8] = bytes(b ^ 0xFF for b in data[middle : middle + 8])
    path.write_bytes(bytes(data))
    torch.load(path, weights_only=False)  # torch itself loads the garbage without a word
    with pytest.raises(checkpoint.CheckpointError, match="fails its CRC32 check"):
        run(run_overrides(*RANDOM, "resume=true", "trainer.steps=240", name="r"))


def test_2_resume_path_applies_safe_overrides_and_refuses_the_rest(tmp_path, run_overrides):
    # a run dir named after its overrides, `=` and `,` included: resume=PATH needs no quotes
    where = f"{tmp_path}/agent=random,env=dummy"
    first = run([*run_overrides(*RANDOM), f"run_dir={where}"])
    with pytest.raises(UserError, match=r"agent\._target_.*RandomAgent.*SACAgent"):
        run([f"resume={where}", "agent=sac"])
    with pytest.raises(UserError, match=r"resume cannot change seed \(seed: 0 in the checkpoint"):
        run([f"resume={where}", "seed=3"])  # defect 11: another seed on resume
    with pytest.raises(UserError, match="env.task"):
        run([f"resume={where}", "env.task=reach_discrete"])
    run([f"resume={where}", "trainer.steps=240", "logger.tensorboard=false"])
    assert _records(first)[-1]["env_frames"] == 240 and _status(first)["state"] == "done"
    resumes = [json.loads(line) for line in (first / "resumes.jsonl").read_text().splitlines()]
    assert resumes[-1]["changed"]["trainer.steps"] == [160, 240]
    assert resumes[-1]["env_frames"] == 160


def test_3_rerun_into_a_dir_that_never_checkpointed_starts_clean(run_overrides):
    run_dir = Path(run_overrides(name="r")[-1].split("=", 1)[1])
    run_dir.mkdir(parents=True)  # what a run killed in its prefill leaves behind
    (run_dir / "overrides.yaml").write_text("- agent=sac\n- seed=7\n")
    (run_dir / "metrics.jsonl").write_text('{"env_frames": 40, "episode/return": -99.0}\n')
    (run_dir / "status.json").write_text('{"state": "running", "env_frames": 40}')
    run(run_overrides(*RANDOM, name="r"))
    recs = _records(run_dir)
    assert all(r.get("episode/return") != -99.0 for r in recs) and recs[0]["env_frames"] == 40
    assert "agent=random" in (run_dir / "overrides.yaml").read_text()
    (aside,) = (run_dir / ".aborted").iterdir()
    assert "-99.0" in (aside / "metrics.jsonl").read_text()
    assert "agent=sac" in (aside / "overrides.yaml").read_text()
    runs, _ = discover_runs([run_dir.parent])
    assert [r.path for r in runs] == [run_dir] and "agent=random" in runs[0].overrides


def test_4_missing_or_corrupt_replay_on_resume_is_an_error_unless_asked(run_overrides, capsys):
    run_dir = run(run_overrides(*RANDOM, name="r"))
    replay = run_dir / "checkpoint" / checkpoint.REPLAY_DIR
    (replay / "reward.bin").write_bytes(b"\0" * (replay / "reward.bin").stat().st_size)
    resume = run_overrides(*RANDOM, "resume=true", "trainer.steps=240", name="r")
    with pytest.raises(checkpoint.CheckpointError, match="resume_without_replay=true"):
        run(resume)
    import shutil

    shutil.rmtree(replay)
    with pytest.raises(checkpoint.CheckpointError, match=r"replay .* is missing.*without_replay"):
        run(resume)
    assert _status(run_dir)["env_frames"] == 160
    run([*resume, "resume_without_replay=true"])
    assert "an empty replay" in capsys.readouterr().out
    assert _status(run_dir) | {"state": "done", "env_frames": 240} == _status(run_dir)
    resumes = (run_dir / "resumes.jsonl").read_text()
    assert '"resume_without_replay": true' in resumes


def _dreamer_slices(*extra: str) -> list[str]:
    # 10-frame episodes are 11 rows: frame 120 ends an episode, so the slice resumes exactly;
    # evaluations at 80/160/240 with videos and checkpoints at 160/240: none at the slice end (120)
    return [
        "agent=dreamer", "env=dummy", "env.obs=both", "env.image_size=16",
        "agent.batch_size=4", "agent.batch_length=8", "agent.horizon=4",
        "trainer.time_limit=10", "trainer.steps=240", "trainer.prefill=60",
        "trainer.train_ratio=8", "trainer.eval_every=80", "trainer.log_every=20",
        "trainer.checkpoint_every=160", "logger.video=true", *extra,
    ]  # fmt: skip


def test_5_dreamer_resume_after_stop_after_is_exact_with_videos(run_overrides):
    full = run(run_overrides(*_dreamer_slices(), name="full"))
    part = run(run_overrides(*_dreamer_slices("trainer.stop_after=120"), name="part"))
    assert _status(part)["state"] == "stopped"
    assert not [r for r in _records(part) if "eval/return_mean" in r and r["env_frames"] == 120]
    run(run_overrides(*_dreamer_slices("resume=true"), name="part"))
    assert list((full / "videos").glob("wm_openloop_*.gif")), "the case needs open-loop videos"
    assert _strip(_records(full)) == _strip(_records(part))
    sa, _ = checkpoint.load(full)
    sb, _ = checkpoint.load(part)
    assert sa["counters"] == sb["counters"]
    for name, value in sa["agent"].items():
        if isinstance(value, dict):
            for key, t in value.items():
                if isinstance(t, torch.Tensor):
                    assert torch.equal(t, sb["agent"][name][key]), f"{name}.{key}"


DIVERGING = [
    "agent=dreamer", "env=dummy", "env.obs=proprio", "agent.actor_lr=1e10",
    "trainer.checkpoint_every=120", "trainer.log_every=40",
]  # fmt: skip


def test_6_7_10_diverging_actor_stops_before_eval_and_resumes_with_a_corrected_lr(
    run_overrides,
):
    with pytest.raises(NonFiniteLossError, match=r"weights diverged at env frame 160.*actor"):
        run(run_overrides(*DIVERGING, name="r"))
    run_dir = Path(run_overrides(name="r")[-1].split("=", 1)[1])
    assert _status(run_dir)["state"] == "failed"
    # the check runs before the evaluation: the diverged policy never acted in an eval episode
    assert not [r for r in _records(run_dir) if "eval/return_mean" in r]
    state, _ = checkpoint.load(run_dir)
    assert state["counters"]["env_frames"] == 120  # the last good checkpoint is kept

    corrected = [f"resume={run_dir}", "agent.actor_lr=3e-5"]
    with pytest.raises(UserError, match=r"agent.actor_lr: 1\d+\.0 -> 3e-05.*optimizer_settings"):
        run(corrected)
    run([*corrected, "resume_new_optimizer_settings=true"])
    assert _status(run_dir)["state"] == "done"
    state, _ = checkpoint.load(run_dir)
    lrs = [
        g["lr"]
        for part in state["agent"].values()
        if isinstance(part, dict) and "param_groups" in part
        for g in part["param_groups"]
    ]
    assert 3e-5 in lrs and max(lrs) < 1.0  # the corrected rate was applied, not the saved one
    resumes = (run_dir / "resumes.jsonl").read_text()
    assert '"agent.actor_lr": [10000000000.0, 3e-05]' in resumes
    assert '"resume_new_optimizer_settings": true' in resumes

    # defect 10: a truncated world_model.pt in evaluate is one line, not a traceback
    from worldmodels.evaluate import evaluate_run

    path = run_dir / "world_model.pt"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(checkpoint.CheckpointError, match="world model .* is corrupt or truncated"):
        evaluate_run([f"checkpoint={run_dir}", "agent=cem", "trainer=debug", "device=cpu"])


def test_10_unwritable_run_dir_is_one_line(tmp_path, run_overrides):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(UserError, match="cannot write to run dir"):
        run([*run_overrides(*RANDOM), f"run_dir={blocker}/run"])
    if os.geteuid() != 0:  # root writes into read-only dirs
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o555)
        with pytest.raises(UserError, match="cannot write to run dir"):
            run([*run_overrides(*RANDOM), f"run_dir={ro}/run"])


def test_10_killed_env_worker_is_a_one_line_run_failure():
    from worldmodels.envs.make import make_vec_env
    from worldmodels.envs.vector import EnvWorkerError

    envs = make_vec_env({"suite": "dummy", "task": "reach", "obs": "proprio"}, 2, 0)
    try:
        envs.reset()
        victim = envs._venv.processes[0]  # type: ignore[attr-defined]
        os.kill(victim.pid, signal.SIGKILL)
        victim.join(timeout=10)
        with pytest.raises(EnvWorkerError, match=r"worker 0 exit code -9") as err:
            for _ in range(5):  # a send may still succeed into the pipe's buffer
                envs.step(np.zeros((2, 1), np.float32))
                time.sleep(0.05)
        assert isinstance(err.value, RunFailed) and "\n" not in str(err.value)
    finally:
        envs.close()


def test_8_async_env_workers_leave_the_stop_handlers_of_the_main_process_alone():
    # gymnasium builds one env in the main process for the spaces: the workers' signal
    # settings (ignore SIGTERM/SIGINT; the main process stops them) must not leak into it
    from worldmodels.envs.make import make_vec_env
    from worldmodels.training.preemption import StopSignals

    with StopSignals() as stop:
        envs = make_vec_env({"suite": "dummy", "task": "reach", "obs": "proprio"}, 2, 0)
        try:
            assert signal.getsignal(signal.SIGTERM) == stop._handle
            assert signal.getsignal(signal.SIGINT) == stop._handle
            os.kill(os.getpid(), signal.SIGTERM)
            assert stop.requested == signal.SIGTERM
        finally:
            envs.close()
