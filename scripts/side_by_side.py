"""Our preset=dreamer_v3 and the official DreamerV3 (current release, JAX) side by side on CPU.

    python scripts/side_by_side.py --task cartpole_balance --updates 500 --seeds 0 1 2
    python scripts/side_by_side.py --fast --sides ours            # a few updates (CI)
    python scripts/side_by_side.py --summarize-only --out DIR      # redo the table and figure
    python scripts/side_by_side.py --recipe --train-ratio 64 --frames 50000 --lr 4e-4 \
        --warmup 0 --out benchmarks/side_by_side/cartpole_balance_recipe_fastlr  # the recipe
    python scripts/side_by_side.py --recipe --sides official --cores 1 --out DIR   # official only,
    python scripts/side_by_side.py --recipe --summarize-only --out DIR \
        --ours-from RUN_DIR [RUN_DIR ...]                   # next to recipe runs already made

Both sides run the same protocol: the official `dmc_proprio` config (size1m, float32 on CPU, one
env, action repeat 1, batch 16 x 64, train ratio 1024: one update per env step, training once the
replay holds 1024 rows), on one core each (`--parallel 2` runs two at once, pinned with taskset;
`--cores` picks which).
The official code comes from ../shared/peers/official_dreamerv3 (its setup.sh builds the venv in
$DV3_ROOT, default ~/.cache/official_dreamerv3); without it the official side is skipped with a
message. Before it runs, two logging lines are added to the official copy's `imag_loss` (the
policy's mode and std, which it does not log; `patch_official_metrics`). Writes
OUT/side_by_side.md (per-metric table at update checkpoints: our mean next to the official seeds'
range, and whether ours lies within the official spread or 15% of its mean), OUT/side_by_side.csv
and OUT/side_by_side.png, and the updates/s of both sides.

`--recipe` compares at the CPU learning benchmark's protocol instead (thousands of updates, to see
whether both sides learn): our side is `+experiment=cpu_proprio_dreamer` (size1m, 4 envs, action
repeat 2, compiled) at `--train-ratio` for `--frames` env frames, the official side the same
config with `--run.envs 4 --env.dmc.repeat 2 --run.train_ratio R --run.steps frames/2` (its
`run.steps` counts env steps over all envs). `--lr` / `--warmup` set the same LaProp learning
rate and warmup on both sides; `--ours-override` is appended to our side. The prefills differ
slightly: ours 2048 frames (the preset's), the official's until its replay holds 1024 windows
(4 x (256 + 64) steps, 2560 frames). `--ours-from RUN_DIR ...` takes our side from runs of the
recipe already made (`python -m worldmodels.train +experiment=cpu_proprio_dreamer ...`) instead
of running it again: each run's config must match the protocol (task, envs, repeat, train ratio,
lr, warmup, frames), or the command stops naming the key.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

ROOT = Path(__file__).resolve().parents[1]
PEER = ROOT.parent / "shared" / "peers" / "official_dreamerv3"
# the official trains once its replay holds 1024 windows of 65 rows (batch_size x batch_length
# windows; embodied/core/replay.py inserts one per step once a stream holds 65 rows): with one
# env, after 1024 + 64 steps
PREFILL = 1024 + 64
ROWS_PER_UPDATE = 16 * 64
#: metric -> (our metrics.jsonl key, the official metrics.jsonl key); None: not logged there
METRICS: dict[str, tuple[str, str | None]] = {
    "vector": ("wm/loss/vector", "train/loss/vector"),  # official: the sum over its obs keys
    "reward": ("wm/loss/reward", "train/loss/rew"),
    "cont": ("wm/loss/cont", "train/loss/con"),
    "dyn": ("wm/loss/dyn", "train/loss/dyn"),
    "rep": ("wm/loss/rep", "train/loss/rep"),
    "value": ("agent/critic_loss", "train/loss/value"),
    "repval": ("agent/repval_loss", "train/loss/repval"),
    "entropy": ("agent/entropy", "train/ent/action"),
    # the imagined policy's mode and std (the official logs them once `patch_official_metrics`
    # has added two logging lines; without the patch these rows stay empty on its side)
    "policy_mode": ("agent/policy_mode_mean", "train/polmode/action"),
    "policy_std": ("agent/policy_std", "train/polstd/action"),
    "return_scale": ("agent/return_scale", None),  # the official logs no return scale
    "episode_return": ("episode/return", "episode/score"),
}
#: torch.compile of the RSSM cells and the heads' MLPs (faster on CPU, RESULTS.md), our default
COMPILED = ("agent.compile=true", "agent.world_model.compile=true")
OFFICIAL_NON_RECON = {
    "rew", "con", "dyn", "rep", "policy", "value", "repval",
}  # fmt: skip


def dv3_root() -> Path:
    return Path(os.environ.get("DV3_ROOT", Path.home() / ".cache" / "official_dreamerv3"))


#: logging lines added to the official `imag_loss` (dreamerv3/agent.py, after the entropy metric in
#: `for k in act:`): the mean of the policy's mode and std over the imagined states it trains on.
#: They read values the loss already computed and change nothing else.
#: The policy of a continuous action is `outs.Agg(outs.Normal)` (embodied/jax/heads.py:
#: `Head.__call__` wraps every output in Agg), so the lines unwrap `.output` before asking for
#: `stddev`; discrete actions (a Categorical) have no stddev and log nothing.
OFFICIAL_METRICS_ANCHOR = "    metrics[f'ent/{k}'] = ents[k].mean()\n"
OFFICIAL_METRICS_PATCH = (
    "    dist = getattr(policy[k], 'output', policy[k])  # added by worldmodels side_by_side.py\n"
    "    if hasattr(dist, 'stddev'):\n"
    "      metrics[f'polmode/{k}'] = dist.pred()[:, :-1].mean()\n"
    "      metrics[f'polstd/{k}'] = dist.stddev[:, :-1].mean()\n"
)
#: the first version of the patch (2026-12-02): its hasattr test never held on the Agg wrapper, so
#: it logged nothing; `patch_official_metrics` replaces it
OFFICIAL_METRICS_PATCH_V1 = (
    "    if hasattr(policy[k], 'stddev'):  # added by worldmodels scripts/side_by_side.py\n"
    "      metrics[f'polmode/{k}'] = policy[k].pred()[:, :-1].mean()\n"
    "      metrics[f'polstd/{k}'] = policy[k].stddev[:, :-1].mean()\n"
)


def patch_official_metrics(source: str) -> str:
    """The official agent.py with the policy mode/std metrics added (idempotent; an earlier
    version of the patch is replaced). Raises ValueError when the anchor line is missing (another
    release: patch by hand)."""
    source = source.replace(OFFICIAL_METRICS_PATCH_V1, "")
    if OFFICIAL_METRICS_PATCH in source:
        return source
    if source.count(OFFICIAL_METRICS_ANCHOR) != 1:
        raise ValueError(
            "official dreamerv3/agent.py: the entropy metric line "
            f"{OFFICIAL_METRICS_ANCHOR.strip()!r} was not found exactly once; this patch fits "
            "release e3f0224"
        )
    return source.replace(OFFICIAL_METRICS_ANCHOR, OFFICIAL_METRICS_ANCHOR + OFFICIAL_METRICS_PATCH)


def ensure_official_metrics(agent_py: Path) -> None:
    """Applies `patch_official_metrics` to the official copy in $DV3_ROOT, saying so."""
    source = agent_py.read_text()
    patched = patch_official_metrics(source)
    if patched != source:
        agent_py.write_text(patched)
        print(f"added the policy mode/std metrics (logging only) to {agent_py}", flush=True)


def ours_command(
    task: str, seed: int, updates: int, run_dir: Path, prefill: int, extra: Sequence[str] = ()
) -> list[str]:
    """Our training command; `extra`: more Hydra overrides (e.g. torch.compile switches)."""
    frames = prefill + updates  # one update per env step after the prefill
    return [
        sys.executable, "-m", "worldmodels.train", "preset=dreamer_v3", "env=dmc_proprio",
        f"env.task={task}", f"seed={seed}", "device=cpu", "trainer.num_envs=1",
        "trainer.async_envs=false", f"trainer.steps={frames}", f"trainer.prefill={prefill}",
        "trainer.log_every=32", f"trainer.eval_every={10 * frames}",
        f"trainer.checkpoint_every={10 * frames}", "trainer.save_replay=false",
        "logger.video=false", "logger.tensorboard=false", "logger.progress=false",
        f"run_dir={run_dir}", *extra,
    ]  # fmt: skip


RECIPE = ROOT / "configs" / "experiment" / "cpu_proprio_dreamer.yaml"


class RecipeProtocol(NamedTuple):
    """What the CPU learning recipe sets that the official side must get the same of: env count,
    action repeat, train ratio, and the LaProp lr and warmup (None where the recipe keeps the
    release's)."""

    envs: int
    repeat: int
    train_ratio: float
    lr: float | None
    warmup: int | None


# where each protocol field lives in a config (the recipe's yaml and a run's composed config.yaml)
PROTOCOL_KEYS = {"envs": "trainer.num_envs", "repeat": "env.action_repeat",
                 "train_ratio": "agent.train_ratio", "lr": "agent.laprop_lr",
                 "warmup": "agent.warmup"}  # fmt: skip


#: the release's optimizer pace, which a side by side keeps where it sets no lr / warmup
#: (dreamerv3/configs.yaml:87, `agent.opt: {lr: 4e-5, ..., warmup: 1000}`)
RELEASE_OPT = {"lr": 4.0e-5, "warmup": 1000}


def protocol_of(cfg: Any) -> RecipeProtocol:
    """The protocol a loaded config (OmegaConf) sets (None for lr / warmup where it sets none)."""
    from omegaconf import OmegaConf

    got = {field: OmegaConf.select(cfg, key) for field, key in PROTOCOL_KEYS.items()}
    return RecipeProtocol(
        envs=int(got["envs"]),
        repeat=int(got["repeat"]),
        train_ratio=float(got["train_ratio"]),
        lr=None if got["lr"] is None else float(got["lr"]),
        warmup=None if got["warmup"] is None else int(got["warmup"]),
    )


def recipe_protocol() -> RecipeProtocol:
    """The recipe's protocol, read from its yaml (the one file both sides take it from)."""
    from omegaconf import OmegaConf

    return protocol_of(OmegaConf.load(RECIPE))


RECIPE_PROTOCOL = recipe_protocol()
RECIPE_ENVS, RECIPE_REPEAT = RECIPE_PROTOCOL.envs, RECIPE_PROTOCOL.repeat


def recipe_prefill_steps(envs: int = RECIPE_ENVS) -> int:
    """Env steps (over all envs) before the official's first update: each stream adds one
    window per step once it holds 65 rows, training starts at 1024 windows."""
    return envs * (-(-1024 // envs) + 64)


def ours_recipe_command(
    task: str, seed: int, frames: int, train_ratio: float, run_dir: Path, opt: Sequence[str] = ()
) -> list[str]:
    """The CPU learning recipe, one run (its eval clock kept: evaluation episodes are logged);
    `opt`: more Hydra overrides (`optimizer_overrides`, `--ours-override`)."""
    return [
        sys.executable, "-m", "worldmodels.train", "+experiment=cpu_proprio_dreamer",
        f"env.task={task}", f"seed={seed}", "device=cpu", f"agent.train_ratio={train_ratio:g}",
        f"trainer.steps={frames}", "trainer.log_every=2000", "logger.video=false",
        "logger.tensorboard=false", "logger.progress=false", f"run_dir={run_dir}", *opt,
    ]  # fmt: skip


def import_ours_runs(
    run_dirs: Sequence[Path], out: Path, task: str, frames: int, want: RecipeProtocol
) -> list[str]:
    """Copies the metrics of recipe runs already made into OUT/runs/ours_<task>_s<seed>/ (with
    a SOURCE file naming where they came from), after checking that each ran the protocol the
    official side runs. Returns one line per run (its seed, state and frames). Raises ValueError
    naming the run and the key where one differs: a run at another lr or task would make the
    table silently compare different things."""
    from omegaconf import OmegaConf

    lines = []
    for run_dir in run_dirs:
        cfg_path, metrics = run_dir / "config.yaml", run_dir / "metrics.jsonl"
        if not cfg_path.exists() or not metrics.exists():
            raise ValueError(f"--ours-from {run_dir}: no config.yaml and metrics.jsonl (not a run)")
        cfg = OmegaConf.load(cfg_path)
        ran = protocol_of(cfg)._asdict()
        checks = {  # key: (the run's value, the side by side's); want's None: the release's
            PROTOCOL_KEYS[field]: (ran[field], RELEASE_OPT[field] if value is None else value)
            for field, value in want._asdict().items()
        }
        checks["env.task"] = (OmegaConf.select(cfg, "env.task"), task)
        checks["trainer.steps"] = (OmegaConf.select(cfg, "trainer.steps"), frames)
        for key, (got, value) in checks.items():
            if got != value:
                raise ValueError(
                    f"--ours-from {run_dir}: {key} is {got}, the side by side runs {value}"
                )
        seed = int(cfg.seed)
        dest = out / "runs" / f"ours_{task}_s{seed}"
        if dest.exists():
            raise ValueError(f"--ours-from {run_dir}: {dest} exists (two runs with seed {seed}?)")
        dest.mkdir(parents=True)
        shutil.copy2(metrics, dest / "metrics.jsonl")
        if (run_dir / "metadata.json").exists():  # the host it ran on (see `_hosts_note`)
            shutil.copy2(run_dir / "metadata.json", dest / "metadata.json")
        source = run_dir.resolve()  # relative to the repository when inside it (committed files)
        source = source.relative_to(ROOT) if source.is_relative_to(ROOT) else source
        (dest / "SOURCE").write_text(f"{source}\n")
        status = (
            json.loads((run_dir / "status.json").read_text())
            if (run_dir / "status.json").exists()
            else {}
        )
        lines.append(
            f"ours seed {seed} from {run_dir}: {status.get('state', '?')} at "
            f"{status.get('env_frames', '?')} of {frames} frames"
        )
    return lines


def optimizer_overrides(lr: float | None, warmup: int | None) -> tuple[list[str], list[str]]:
    """The same LaProp learning rate / warmup on both sides: (our Hydra overrides, the
    official's flags, dreamerv3/configs.yaml `agent.opt`); None keeps the release's value."""
    ours, theirs = [], []
    if lr is not None:
        ours.append(f"agent.laprop_lr={lr:g}")
        theirs += ["--agent.opt.lr", f"{lr:g}"]
    if warmup is not None:
        ours.append(f"agent.warmup={warmup}")
        theirs += ["--agent.opt.warmup", str(warmup)]
    return ours, theirs


def official_recipe_command(
    task: str, seed: int, frames: int, train_ratio: float, run_dir: Path, opt: Sequence[str] = ()
) -> list[str]:
    """The official dmc_proprio config at the recipe's envs, action repeat and train ratio."""
    root = dv3_root()
    return [
        str(root / "venv" / "bin" / "python"), str(root / "src" / "dreamerv3" / "main.py"),
        "--configs", "dmc_proprio", "--task", f"dmc_{task}", "--seed", str(seed),
        "--logdir", str(run_dir), "--jax.platform", "cpu", "--jax.prealloc", "False",
        "--jax.compute_dtype", "float32", "--run.envs", str(RECIPE_ENVS), "--run.eval_envs", "0",
        "--run.log_every", "120", "--run.train_ratio", f"{train_ratio:g}",
        "--env.dmc.repeat", str(RECIPE_REPEAT), "--run.steps", str(frames // RECIPE_REPEAT),
        "--run.usage.nvsmi", "False", *opt,
    ]  # fmt: skip


def official_command(task: str, seed: int, updates: int, run_dir: Path) -> list[str]:
    root = dv3_root()
    return [
        str(root / "venv" / "bin" / "python"), str(root / "src" / "dreamerv3" / "main.py"),
        "--configs", "dmc_proprio", "--task", f"dmc_{task}", "--seed", str(seed),
        "--logdir", str(run_dir), "--jax.platform", "cpu", "--jax.prealloc", "False",
        "--jax.compute_dtype", "float32", "--run.envs", "1", "--run.eval_envs", "0",
        "--run.log_every", "20", "--run.steps", str(PREFILL + updates),
        "--run.usage.nvsmi", "False",
    ]  # fmt: skip


def launch(cmd: list[str], log: Path, core: int | None) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false",
        "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl"),
        "DV3_NO_RENDER": "1",
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": str(ROOT),
    }
    if core is not None and shutil.which("taskset"):
        cmd = ["taskset", "-c", str(core), *cmd]
    log.parent.mkdir(parents=True, exist_ok=True)
    cwd = dv3_root() / "src" if "main.py" in " ".join(cmd) else ROOT
    return subprocess.Popen(cmd, stdout=log.open("wb"), stderr=subprocess.STDOUT, env=env, cwd=cwd)


def run_all(jobs: list[tuple[str, list[str], Path]], cores: list[int]) -> None:
    """Runs (name, command, log) jobs, one per core of `cores` at a time, each pinned to a core
    no running job holds (a job that ends frees its core for the next, whatever its order)."""
    pending = list(jobs)
    running: list[tuple[str, subprocess.Popen[bytes], int]] = []
    while pending or running:
        busy = {core for _, _, core in running}
        free = [c for c in cores if c not in busy]
        while pending and free:
            name, cmd, log = pending.pop(0)
            core = free.pop(0)
            print(f"start {name} on core {core}: {' '.join(cmd[:4])} ... (log {log})", flush=True)
            running.append((name, launch(cmd, log, core), core))
        time.sleep(2)
        for item in list(running):
            name, proc, _ = item
            if proc.poll() is not None:
                running.remove(item)
                print(f"done {name}: exit {proc.returncode}", flush=True)


def pick_cores(parallel: int, cores: list[int] | None, available: int) -> list[int]:
    """The cores the runs are pinned to: `cores` as given, else the first `parallel` ones.
    Raises ValueError naming the flag when a core does not exist or one is given twice."""
    if cores is None and parallel < 1:
        raise ValueError(f"--parallel: {parallel}; at least 1 run at a time")
    chosen = list(range(min(parallel, available))) if cores is None else cores
    bad = [c for c in chosen if not 0 <= c < available]
    if bad:
        raise ValueError(f"--cores: {bad or chosen} not on this machine (valid: 0-{available - 1})")
    if len(set(chosen)) != len(chosen):
        raise ValueError(f"--cores: {chosen} names a core twice (one run per core)")
    return chosen


# ---- reading the logs ------------------------------------------------------------------------
#: metric -> [(update, value)] of one run
Curves = dict[str, list[tuple[float, float]]]


def _rows(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def read_ours(run_dir: Path) -> tuple[dict[str, list[tuple[float, float]]], list[float]]:
    """{metric: [(update, value)]}, updates/s per log window."""
    curves: dict[str, list[tuple[float, float]]] = {k: [] for k in METRICS}
    speed = []
    for r in _rows(run_dir / "metrics.jsonl"):
        upd = float(r.get("grad_steps", 0))
        for name, (key, _) in METRICS.items():
            if key in r:
                curves[name].append((upd, float(r[key])))
        if r.get("perf/grad_steps_per_s", 0) > 0:
            speed.append(float(r["perf/grad_steps_per_s"]))
    return curves, speed[1:] or speed  # the first window mixes in compile/prefill


def read_official(run_dir: Path) -> tuple[dict[str, list[tuple[float, float]]], list[float]]:
    """As `read_ours`. Rows without an update count (episodes) take the last one logged before
    them (0 during the prefill)."""
    curves: dict[str, list[tuple[float, float]]] = {k: [] for k in METRICS}
    speed: list[float] = []
    updates = 0.0
    for r in _rows(run_dir / "metrics.jsonl"):
        updates = float(r.get("train/opt/updates", updates))
        losses = {k[len("train/loss/") :]: v for k, v in r.items() if k.startswith("train/loss/")}
        recon = [v for k, v in losses.items() if k not in OFFICIAL_NON_RECON]
        if recon:
            r = {**r, "train/loss/vector": sum(recon)}
        for name, (_, key) in METRICS.items():
            if key is not None and key in r:
                curves[name].append((updates, float(r[key])))
        if r.get("fps/train", 0) > 0:
            speed.append(float(r["fps/train"]) / ROWS_PER_UPDATE)
    return curves, speed[1:] or speed


def at(curve: list[tuple[float, float]], update: float, width: float) -> float | None:
    """Mean of the curve's values within +-width/2 of `update` (None: nothing there)."""
    vals = [v for u, v in curve if abs(u - update) <= width / 2]
    return statistics.fmean(vals) if vals else None


# ---- the table and the figure ----------------------------------------------------------------
def _hosts_note(out: Path) -> list[str]:
    """A warning line when our runs ran on more than one host (their run metadata's platform
    differs): their median updates/s then mixes machines and is no same-machine ratio."""
    hosts: dict[str, list[str]] = {}
    for meta in sorted((out / "runs").glob("ours_*/metadata.json")):
        info = json.loads(meta.read_text())
        host = f"{info.get('platform', '?')} {info.get('cpu_capability', '')}".strip()
        hosts.setdefault(host, []).append(meta.parent.name)
    if len(hosts) < 2:
        return []
    where = "; ".join(f"{', '.join(runs)} on {host}" for host, runs in hosts.items())
    return [
        f"NOTE: our runs ran on {len(hosts)} hosts ({where}): the updates/s above mixes "
        "machines and is not a same-machine ratio to the official's"
    ]


def summarize(out: Path, updates: int, checkpoints: int = 5) -> Path:
    sides: dict[str, dict[str, Curves]] = {"ours": {}, "official": {}}
    speeds: dict[str, list[float]] = {"ours": [], "official": []}
    for run_dir in sorted((out / "runs").glob("*")):
        side = run_dir.name.split("_", 1)[0]
        reader = read_ours if side == "ours" else read_official
        curves, speed = reader(run_dir)
        sides[side][run_dir.name] = curves
        speeds[side] += speed
    step = max(updates // checkpoints, 1)
    marks = [u for u in range(step, updates + 1, step) if u >= min(100, updates)]
    rows, verdicts = [], []
    for name, (_, official_key) in METRICS.items():
        for u in marks:
            ours = [at(c[name], u, step) for c in sides["ours"].values()]
            theirs = [at(c[name], u, step) for c in sides["official"].values()]
            ours_v = [v for v in ours if v is not None]
            theirs_v = [v for v in theirs if v is not None]
            row = {"metric": name, "update": u, "ours_mean": _fmt(ours_v, statistics.fmean)}
            row["official_min"] = _fmt(theirs_v, min)
            row["official_max"] = _fmt(theirs_v, max)
            ok = ""
            if ours_v and theirs_v:
                lo, hi, mean = min(theirs_v), max(theirs_v), statistics.fmean(theirs_v)
                band = max(hi - lo, 0.3 * abs(mean))  # the spread, or +-15% of the mean
                mid = (lo + hi) / 2
                ok = "yes" if abs(statistics.fmean(ours_v) - mid) <= band / 2 + 1e-9 else "NO"
                verdicts.append(ok)
            elif official_key is None:
                ok = "(not logged by the official code)"
            elif ours_v and sides["official"]:
                ok = "(not in the official runs' logs)"
            row["within"] = ok
            rows.append(row)
    with (out / "side_by_side.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["metric"])
        writer.writeheader()
        writer.writerows(rows)
    md = [
        "# Side by side: preset=dreamer_v3 vs the official DreamerV3 (e3f0224), DMC proprio",
        "",
        f"Runs: {', '.join(sorted(sides['ours']))} | {', '.join(sorted(sides['official']))}",
        f"updates/s (median over log windows, one core each): ours "
        f"{_fmt(speeds['ours'], statistics.median)}, official "
        f"{_fmt(speeds['official'], statistics.median)}",
        *_hosts_note(out),
        "",
        "| metric | update | ours (mean of seeds) | official min | official max | within |",
        "|---|---|---|---|---|---|",
    ]
    md += [
        f"| {r['metric']} | {r['update']} | {r['ours_mean']} | {r['official_min']} | "
        f"{r['official_max']} | {r['within']} |"
        for r in rows
    ]
    md += ["", f"within the official spread (or 15% of its mean): {verdicts.count('yes')} of "
           f"{len(verdicts)} cells"]  # fmt: skip
    (out / "side_by_side.md").write_text("\n".join(md) + "\n")
    _figure(out, sides)
    print("\n".join(md[:5]))
    return out / "side_by_side.md"


def _fmt(values: list[float], fn: Callable[[list[float]], float]) -> str:
    return f"{fn(values):.4g}" if values else "-"


def _figure(out: Path, sides: dict[str, dict[str, Curves]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(METRICS)
    fig, axes = plt.subplots(2, (len(names) + 1) // 2, figsize=(18, 6.5))
    for ax, name in zip(axes.flat, names):
        for side, color in (("official", "0.5"), ("ours", "tab:blue")):
            for i, curves in enumerate(sides[side].values()):
                pts = curves[name]
                if pts:
                    n = len(sides[side])
                    label = f"{side} ({n} seed{'' if n == 1 else 's'})" if i == 0 else None
                    # episodes: points (the official logs each episode, ours a window's mean)
                    style = {"marker": "o", "ls": "", "ms": 3} if name == "episode_return" else {}
                    ax.plot(*zip(*pts), color=color, alpha=0.8, lw=1.2, label=label, **style)
        ax.set_title(name)
        # episodes that end during the prefill are drawn at update 0
        ax.set_xlabel("updates (prefill episodes at 0)" if name == "episode_return" else "updates")
    axes.flat[0].legend(fontsize=8)
    fig.suptitle(
        "preset=dreamer_v3 (blue) vs official DreamerV3 e3f0224 (grey), dmc_proprio size1m"
    )
    fig.tight_layout()
    fig.savefig(out / "side_by_side.png", dpi=90)
    plt.close(fig)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--task", default="cartpole_balance", help="dm_control task, e.g. reacher_easy")
    p.add_argument("--updates", type=int, default=500)
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--sides", nargs="+", default=["ours", "official"], choices=["ours", "official"])
    p.add_argument("--parallel", type=int, default=2, help="runs at once, one core each")
    p.add_argument(
        "--cores",
        type=int,
        nargs="+",
        default=None,
        help="the cores to pin runs to, one run each (default: the first --parallel ones), e.g. "
        "--cores 1 to leave core 0 to another run",
    )
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "side_by_side")
    p.add_argument("--fast", action="store_true", help="CI: 3 updates, a short prefill (ours)")
    p.add_argument("--summarize-only", action="store_true")
    p.add_argument(
        "--recipe",
        action="store_true",
        help="the CPU learning recipe's protocol (its envs, action repeat, train ratio, lr and "
        "warmup; --frames) instead of the official dmc_proprio one (1 env, repeat 1, ratio 1024)",
    )
    p.add_argument(
        "--train-ratio",
        type=float,
        default=None,
        help="--recipe: replayed rows per env step (the recipe's)",
    )
    p.add_argument("--frames", type=int, default=None, help="--recipe: env frames per run (100k)")
    p.add_argument("--checkpoints", type=int, default=5, help="table rows per metric")
    p.add_argument(
        "--lr", type=float, default=None, help="--recipe: LaProp lr, both sides (the recipe's)"
    )
    p.add_argument(
        "--warmup", type=int, default=None, help="--recipe: lr warmup, both sides (the recipe's)"
    )
    p.add_argument(
        "--ours-from",
        type=Path,
        nargs="+",
        default=None,
        help="--recipe: our side from these recipe run dirs (already made) instead of new runs",
    )
    p.add_argument(
        "--ours-override",
        nargs="*",
        default=list(COMPILED),
        help="extra overrides for our side (default: torch.compile on, as the CPU recipe; "
        "pass none for eager)",
    )
    args = p.parse_args()
    try:
        cores = pick_cores(args.parallel, args.cores, os.cpu_count() or 1)
    except ValueError as err:
        p.error(str(err))
    recipe_only = {"--train-ratio": args.train_ratio, "--frames": args.frames, "--lr": args.lr,
                   "--warmup": args.warmup, "--ours-from": args.ours_from}  # fmt: skip
    given = [k for k, v in recipe_only.items() if v is not None]
    if given and not args.recipe:
        p.error(f"{', '.join(given)} apply only with --recipe (the default protocol is fixed)")
    if args.fast:
        args.updates = 3
    if args.recipe:  # the recipe's own values where no flag overrides them
        rp = RECIPE_PROTOCOL
        args.train_ratio = rp.train_ratio if args.train_ratio is None else args.train_ratio
        args.lr = rp.lr if args.lr is None else args.lr
        args.warmup = rp.warmup if args.warmup is None else args.warmup
        args.frames = 100_000 if args.frames is None else args.frames
        # the update count the official makes in --frames (the table's last row)
        steps = args.frames // RECIPE_REPEAT - recipe_prefill_steps()
        args.updates = int(steps * args.train_ratio / ROWS_PER_UPDATE)
    ours_opt, official_opt = optimizer_overrides(args.lr, args.warmup)
    if args.ours_from:  # our side is these runs: none is launched, the old copies go
        for old in (args.out / "runs").glob(f"ours_{args.task}_s*"):
            shutil.rmtree(old)
        protocol = RecipeProtocol(
            RECIPE_ENVS, RECIPE_REPEAT, args.train_ratio, args.lr, args.warmup
        )
        try:
            lines = import_ours_runs(args.ours_from, args.out, args.task, args.frames, protocol)
        except ValueError as err:
            p.error(str(err))
        print("\n".join(lines), flush=True)
        args.sides = [s for s in args.sides if s != "ours"]
    if not args.summarize_only:
        jobs = []
        for seed in args.seeds:
            tag = f"{args.task}_s{seed}"
            if "ours" in args.sides:
                run_dir = args.out / "runs" / f"ours_{tag}"
                shutil.rmtree(run_dir, ignore_errors=True)
                prefill = 64 if args.fast else PREFILL
                if args.recipe:
                    extra = [*ours_opt, *args.ours_override]
                    cmd = ours_recipe_command(
                        args.task, seed, args.frames, args.train_ratio, run_dir, extra
                    )
                else:
                    cmd = ours_command(
                        args.task, seed, args.updates, run_dir, prefill, args.ours_override
                    )
                jobs.append((f"ours {tag}", cmd, args.out / "logs" / f"ours_{tag}.log"))
            if "official" in args.sides:
                if not (dv3_root() / "venv" / "bin" / "python").exists():
                    print(
                        f"official side skipped: no venv in {dv3_root()} "
                        f"(run {PEER / 'setup.sh'} to build it)",
                        flush=True,
                    )
                else:
                    run_dir = args.out / "runs" / f"official_{tag}"
                    shutil.rmtree(run_dir, ignore_errors=True)
                    ensure_official_metrics(dv3_root() / "src" / "dreamerv3" / "agent.py")
                    if args.recipe:
                        cmd = official_recipe_command(
                            args.task, seed, args.frames, args.train_ratio, run_dir, official_opt
                        )
                    else:
                        cmd = official_command(args.task, seed, args.updates, run_dir)
                    jobs.append((f"official {tag}", cmd, args.out / "logs" / f"official_{tag}.log"))
        run_all(jobs, cores)
    summarize(args.out, args.updates, args.checkpoints)


if __name__ == "__main__":
    main()
