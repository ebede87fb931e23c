"""The side-by-side harness (scripts/side_by_side.py) runs end to end in its fast mode: our side
trains a few updates of preset=dreamer_v3 on dmc_proprio and the summary writes its table, CSV
and figure; without the official venv the official side is skipped with a message."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(600)
def test_fast_mode_runs_our_side_and_writes_the_summary(tmp_path):
    env = {**os.environ, "DV3_ROOT": str(tmp_path / "no_official_here")}
    out = tmp_path / "sbs"
    proc = subprocess.run(
        # eager (an empty --ours-override): compiling would add most of a minute to CI
        [
            sys.executable,
            str(ROOT / "scripts" / "side_by_side.py"),
            "--fast",
            "--out",
            str(out),
            "--ours-override",
        ],  # fmt: skip
        capture_output=True,
        text=True,
        env=env,
        timeout=580,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "official side skipped: no venv in" in proc.stdout
    md = (out / "side_by_side.md").read_text()
    assert "| metric | update |" in md and "ours_cartpole_balance_s0" in md
    rows = list(csv.DictReader((out / "side_by_side.csv").open()))
    dyn = [r for r in rows if r["metric"] == "dyn"]
    assert dyn and all(r["ours_mean"] not in ("", "-") for r in dyn)  # our curve was read
    assert (out / "side_by_side.png").stat().st_size > 10_000


def _harness():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "side_by_side", ROOT / "scripts" / "side_by_side.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _flag(cmd: list[str], name: str) -> str:
    return cmd[cmd.index(name) + 1]


def test_recipe_mode_gives_both_sides_the_recipes_protocol(tmp_path):
    """--recipe: our side is the CPU learning recipe, and the official side gets the recipe's env
    count and action repeat (read from its yaml), the same train ratio and optimizer settings,
    and env steps = frames / repeat (its run.steps counts steps over all envs)."""
    from omegaconf import OmegaConf

    sbs = _harness()
    recipe = OmegaConf.load(ROOT / "configs" / "experiment" / "cpu_proprio_dreamer.yaml")
    ours_opt, official_opt = sbs.optimizer_overrides(4e-4, 0)
    ours = sbs.ours_recipe_command("reacher_easy", 3, 60_000, 128, tmp_path / "o", ours_opt)
    theirs = sbs.official_recipe_command(
        "reacher_easy", 3, 60_000, 128, tmp_path / "t", official_opt
    )
    assert "+experiment=cpu_proprio_dreamer" in ours
    assert {"env.task=reacher_easy", "seed=3", "agent.train_ratio=128", "trainer.steps=60000",
            "agent.laprop_lr=0.0004", "agent.warmup=0"} <= set(ours)  # fmt: skip
    assert _flag(theirs, "--run.envs") == str(recipe.trainer.num_envs)
    assert _flag(theirs, "--env.dmc.repeat") == str(recipe.env.action_repeat)
    assert _flag(theirs, "--run.steps") == str(60_000 // recipe.env.action_repeat)
    assert _flag(theirs, "--run.train_ratio") == "128"
    assert _flag(theirs, "--task") == "dmc_reacher_easy" and _flag(theirs, "--seed") == "3"
    assert _flag(theirs, "--agent.opt.lr") == "0.0004"
    assert _flag(theirs, "--agent.opt.warmup") == "0"
    assert sbs.optimizer_overrides(None, None) == ([], [])  # the releases' own values


def test_recipe_mode_gives_the_official_the_protocol_our_recipe_runs():
    """The recipe sets its own train ratio, LaProp lr and warmup; --recipe without flags must hand
    the official side the values our composed recipe config resolves to, not the release's."""
    from hydra import compose, initialize_config_dir

    sbs = _harness()
    with initialize_config_dir(config_dir=str(ROOT / "configs"), version_base=None):
        cfg = compose("config", overrides=["+experiment=cpu_proprio_dreamer"])
    rp = sbs.recipe_protocol()
    assert (rp.envs, rp.repeat) == (cfg.trainer.num_envs, cfg.env.action_repeat)
    assert (rp.train_ratio, rp.lr, rp.warmup) == (
        cfg.agent.train_ratio,
        cfg.agent.laprop_lr,
        cfg.agent.warmup,
    )
    _, official = sbs.optimizer_overrides(rp.lr, rp.warmup)
    assert _flag(official, "--agent.opt.lr") == f"{cfg.agent.laprop_lr:g}"
    assert _flag(official, "--agent.opt.warmup") == str(cfg.agent.warmup)


def test_official_prefill_counts_windows_per_stream():
    """The official trains once its replay holds 1024 windows, each stream adding one per step
    after its first 64: one env needs 1088 steps (the default protocol's PREFILL), four need
    4 x (256 + 64)."""
    sbs = _harness()
    assert sbs.recipe_prefill_steps(1) == sbs.PREFILL == 1088
    assert sbs.recipe_prefill_steps(4) == 1280
    assert sbs.recipe_prefill_steps(3) == 3 * (342 + 64)


def test_recipe_options_without_recipe_are_an_error():
    """--lr (like --train-ratio, --frames, --warmup) changes only the recipe protocol: given
    without --recipe it must fail with a one-line message, not be silently ignored."""
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "side_by_side.py"),
            "--lr",
            "1e-3",
            "--warmup",
            "0",
            "--ours-from",
            "somewhere",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 2
    assert "--lr, --warmup, --ours-from apply only with --recipe" in proc.stderr


@pytest.mark.skipif(
    (os.cpu_count() or 1) < 2 or shutil.which("taskset") is None,
    reason="needs two cores and taskset to pin two runs",
)
def test_a_run_that_ends_first_frees_its_own_core_for_the_next(tmp_path):
    """Three jobs on cores [0, 1]: the short one on core 0 ends while the long one holds core 1,
    so the third must go to core 0 (counting running jobs would put it on core 1, two runs on
    one core). Each job writes the affinity it ran with."""
    harness = _harness()

    def job(name: str, sleep: float) -> tuple[str, list[str], Path]:
        code = (
            "import os, sys, time; time.sleep(float(sys.argv[2])); "
            "open(sys.argv[1], 'w').write(str(sorted(os.sched_getaffinity(0))))"
        )
        cmd = [sys.executable, "-c", code, str(tmp_path / f"{name}.cores"), str(sleep)]
        return name, cmd, tmp_path / "logs" / f"{name}.log"

    harness.run_all([job("short", 0.1), job("long", 6.0), job("third", 0.1)], [0, 1])
    ran_on = {n: (tmp_path / f"{n}.cores").read_text() for n in ("short", "long", "third")}
    assert ran_on == {"short": "[0]", "long": "[1]", "third": "[0]"}


def test_cores_flag_is_checked_against_the_machine():
    harness = _harness()
    assert harness.pick_cores(2, None, 2) == [0, 1]
    assert harness.pick_cores(2, None, 1) == [0]
    assert harness.pick_cores(2, [1], 2) == [1]
    with pytest.raises(ValueError, match=r"--cores: \[5\] not on this machine \(valid: 0-1\)"):
        harness.pick_cores(2, [0, 5], 2)
    with pytest.raises(ValueError, match="names a core twice"):
        harness.pick_cores(2, [1, 1], 2)
    with pytest.raises(ValueError, match=r"--parallel: 0; at least 1"):
        harness.pick_cores(0, None, 2)


RECIPE_RUNS = ROOT / "benchmarks" / "cpu_learning" / "runs" / "dreamer"


def _recipe_run(task: str, seed: int) -> Path:
    return RECIPE_RUNS / f"experiment=cpu_proprio_dreamer,env.task={task},seed={seed}"


def test_ours_from_takes_committed_recipe_runs_as_our_side(tmp_path):
    """--ours-from: the committed recipe runs become our side of a --recipe table without
    rerunning them (the official side absent here: only the summary is made)."""
    runs = [_recipe_run("cartpole_balance", s) for s in (0, 1)]
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "side_by_side.py"), "--recipe", "--summarize-only",
         "--ours-from", *map(str, runs), "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "ours seed 1 from" in proc.stdout and "of 100000 frames" in proc.stdout
    for seed, run in zip((0, 1), runs):
        dest = tmp_path / "runs" / f"ours_cartpole_balance_s{seed}"
        assert (dest / "metrics.jsonl").read_bytes() == (run / "metrics.jsonl").read_bytes()
        assert (dest / "SOURCE").read_text().strip() == str(run.resolve().relative_to(ROOT))
    table = (tmp_path / "side_by_side.md").read_text()
    assert "Runs: ours_cartpole_balance_s0, ours_cartpole_balance_s1 |" in table


def test_ours_from_refuses_a_run_of_another_protocol(tmp_path):
    """A run at another lr (or task) would make the table compare different things: the import
    stops naming the run and the key."""
    import yaml

    harness = _harness()
    run = tmp_path / "release_lr"
    shutil.copytree(_recipe_run("cartpole_balance", 0), run)
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    cfg["agent"]["laprop_lr"] = 4.0e-5
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    want = harness.RECIPE_PROTOCOL
    with pytest.raises(
        ValueError, match=r"agent\.laprop_lr is 4e-05, the side by side runs 0\.0004"
    ):
        harness.import_ours_runs([run], tmp_path / "out", "cartpole_balance", 100_000, want)
    # a side by side at the release's pace (lr / warmup None) checks the run against the release
    release = want._replace(lr=None, warmup=None)
    with pytest.raises(ValueError, match=r"laprop_lr is 0\.0004, the side by side runs 4e-05"):
        harness.import_ours_runs(
            [_recipe_run("cartpole_balance", 0)], tmp_path / "out", "cartpole_balance", 100_000,
            release,
        )  # fmt: skip
    cfg["agent"]["warmup"] = 1000
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    lines = harness.import_ours_runs([run], tmp_path / "out", "cartpole_balance", 100_000, release)
    assert lines[0].startswith("ours seed 0 from")
    with pytest.raises(ValueError, match=r"env\.task is cartpole_balance, the side by side runs"):
        harness.import_ours_runs(
            [_recipe_run("cartpole_balance", 0)], tmp_path / "out", "reacher_easy", 100_000, want
        )


OFFICIAL_SRC = ROOT.parent / "shared" / "peers" / "official_dreamerv3"
OFFICIAL_TARBALL = OFFICIAL_SRC / "current-e3f0224.tar.gz"


def test_official_metrics_patch_adds_two_logging_lines_inside_the_entropy_loop():
    """The official release logs no policy mode or std; the harness adds them to its imag_loss.
    Applied to the release's own agent.py the patch must compile, sit in the `for k in act:`
    loop (next to the entropy metric, at its indentation), change no other line and be
    idempotent; another source (no anchor line) gets a clear error."""
    import tarfile

    if not OFFICIAL_TARBALL.exists():
        pytest.skip(f"no official source at {OFFICIAL_TARBALL}")
    sbs = _harness()
    with tarfile.open(OFFICIAL_TARBALL) as tar:
        member = tar.extractfile("./dreamerv3/agent.py")
        assert member is not None
        source = member.read().decode()
    patched = sbs.patch_official_metrics(source)
    compile(patched, "agent.py", "exec")
    assert sbs.patch_official_metrics(patched) == patched
    added = [line for line in patched.splitlines() if line not in source.splitlines()]
    assert len(added) == 4 and any("metrics[f'polmode/{k}']" in a for a in added)
    lines = patched.splitlines()
    at = lines.index(sbs.OFFICIAL_METRICS_ANCHOR.rstrip("\n"))
    assert lines[at - 1].strip() == "for k in act:" and lines[at + 1] == added[0]
    assert [line for line in lines if line not in added] == source.splitlines()
    with pytest.raises(ValueError, match="release e3f0224"):
        sbs.patch_official_metrics("def imag_loss():\n  pass\n")
    # a copy patched by the first version (which logged nothing) is brought to this one
    first = source.replace(
        sbs.OFFICIAL_METRICS_ANCHOR, sbs.OFFICIAL_METRICS_ANCHOR + sbs.OFFICIAL_METRICS_PATCH_V1
    )
    assert sbs.patch_official_metrics(first) == patched


#: run in the official venv: the release's own imag_loss on a release-built policy (the
#: Agg-wrapped Normal its bounded_normal head returns); prints what it logged and what it should
_OFFICIAL_IMAG_LOSS = """
import json, sys
sys.path.insert(0, sys.argv[1])
import jax.numpy as jnp, numpy as np
from embodied.jax import outs
from dreamerv3 import agent

class Unit:  # a normalizer that leaves values as they are
    def __call__(self, x, update):
        return 0.0, 1.0
    def stats(self):
        return 0.0, 1.0

rng = np.random.default_rng(0)
B, T = 3, 5
mean = np.tanh(rng.normal(size=(B, T, 1))).astype(np.float32)
std = rng.uniform(0.1, 1.0, size=(B, T, 1)).astype(np.float32)
policy = {"action": outs.Agg(outs.Normal(jnp.asarray(mean), jnp.asarray(std)), 1, jnp.sum)}
value = outs.MSE(jnp.zeros((B, T)))
_, _, mets = agent.imag_loss(
    {"action": jnp.zeros((B, T, 1))}, jnp.zeros((B, T)), jnp.ones((B, T)), policy, value, value,
    Unit(), Unit(), Unit(), True)
print(json.dumps({
    "polmode": float(mets["polmode/action"]), "polstd": float(mets["polstd/action"]),
    "mode": float(mean[:, :-1].mean()), "std": float(std[:, :-1].mean()),
}))
"""


@pytest.mark.timeout(300)
def test_official_metrics_patch_logs_the_mode_and_std_of_the_releases_own_policy(tmp_path):
    """Run, not read: the patched release's imag_loss, on a policy built as its head builds one,
    must log the mean mode and std over the states the loss trains on (the first version of the
    patch compiled and sat in the right place, yet logged nothing)."""
    import tarfile

    python = Path.home() / ".cache" / "official_dreamerv3" / "venv" / "bin" / "python"
    if not OFFICIAL_TARBALL.exists() or not python.exists():
        pytest.skip(f"needs {OFFICIAL_TARBALL} and the official venv ({python})")
    sbs = _harness()
    with tarfile.open(OFFICIAL_TARBALL) as tar:
        tar.extractall(tmp_path / "src", filter="data")
    agent_py = tmp_path / "src" / "dreamerv3" / "agent.py"
    agent_py.write_text(sbs.patch_official_metrics(agent_py.read_text()))
    script = tmp_path / "imag_loss.py"
    script.write_text(_OFFICIAL_IMAG_LOSS)
    proc = subprocess.run(
        [str(python), str(script), str(tmp_path / "src")],
        capture_output=True, text=True, timeout=240, stdin=subprocess.DEVNULL,
        env={**os.environ, "JAX_PLATFORMS": "cpu"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["polmode"] == pytest.approx(got["mode"], abs=1e-6)
    assert got["polstd"] == pytest.approx(got["std"], abs=1e-6)


def test_speed_line_warns_when_our_runs_ran_on_different_hosts(tmp_path):
    """Committed recipe runs can come from different machines; their median updates/s then is no
    same-machine ratio to the official's, and the table says so (one host: no note)."""
    harness = _harness()
    for seed, platform in ((0, "Linux-a"), (1, "Linux-a")):
        d = tmp_path / "runs" / f"ours_cartpole_balance_s{seed}"
        d.mkdir(parents=True)
        (d / "metadata.json").write_text(json.dumps({"platform": platform}))
    assert harness._hosts_note(tmp_path) == []
    (tmp_path / "runs" / "ours_cartpole_balance_s1" / "metadata.json").write_text(
        json.dumps({"platform": "Linux-b", "cpu_capability": "AVX512"})
    )
    (note,) = harness._hosts_note(tmp_path)
    assert "2 hosts" in note and "Linux-b AVX512" in note and "not a same-machine" in note
