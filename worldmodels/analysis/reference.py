"""Published results (from the project's REFERENCE.md) as data, to draw beside a sweep's curves.

x is in environment frames, like our `env_frames`: the DMC numbers are the papers' "env steps",
which count frames whatever the action repeat (at repeat 2, 1M env steps = 500k policy steps; the
current DreamerV3 release uses repeat 1, where steps and frames coincide). DMC vision values are
window means of all training episodes in the 50k steps before each budget, averaged over seeds,
from the score files released with DreamerV1/V2/V3 (DrQ-v2 from its paper's curves); treat them as
markers of where a faithful reproduction should land, not as exact targets.

The two DreamerV3 releases are told apart (github danijar/dreamerv3): `dreamerv3` is the current
release (commit e3f0224, `scores/dmc_vision-dreamerv3.json.gz`), `dreamerv3_2023` the 2023 release
(commit 8fa35f8, `scores/data/dmcvision_dreamerv3.json.gz`), and `dreamerv3_proprio_2023` the
official DMC proprio file, which both releases ship with the same numbers (current
`scores/dmc_proprio-dreamerv3.json.gz` = 2023 `scores/data/dmcproprio_dreamerv3.json.gz`), so it
comes from the 2023 code. `dreamerv3_proprio` is a different set of runs: DreamerV3 as TD-MPC2's
result files report it. Each reference's `protocol` says how its numbers were made, for captions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

Point = tuple[float, float]  # (env frames, return)


@dataclass(frozen=True)
class Reference:
    """One published method's returns on a suite: {task: ((frames, return), ...)}.

    `label` names it in legends and tables, `source` is the file or paper the values come from,
    `protocol` how they were made (action repeat, train ratio, network size, seeds, window)."""

    name: str
    label: str
    source: str
    points: dict[str, tuple[Point, ...]]
    protocol: str = ""

    @property
    def description(self) -> str:
        """One line for a caption: label, protocol and source."""
        protocol = f": {self.protocol}" if self.protocol else ""
        return f"{self.label}{protocol} (source: {self.source})"

    def for_task(self, task: str) -> tuple[Point, ...]:
        """Points for `task`, matching 'HalfCheetah' to 'HalfCheetah-v4' etc. (version-free)."""
        task = _ALIASES.get(task, task)
        if task in self.points:
            return self.points[task]
        base = _strip_version(task)
        for name, pts in self.points.items():
            if _strip_version(name) == base:
                return pts
        return ()


# Our dm_control names (domain_task) for the papers' short names.
_ALIASES = {"ball_in_cup_catch": "cup_catch"}


def _strip_version(task: str) -> str:
    return re.sub(r"-v\d+$", "", task)


_BUDGETS = (100_000.0, 500_000.0, 1_000_000.0)
_DMC_TASKS = (
    "walker_walk",
    "cartpole_swingup",
    "cheetah_run",
    "reacher_easy",
    "finger_spin",
    "cup_catch",
)


def _dmc(
    rows: tuple[tuple[float, float, float], ...], budgets: tuple[float, ...] = _BUDGETS
) -> dict[str, tuple[Point, ...]]:
    return {task: tuple(zip(budgets, row)) for task, row in zip(_DMC_TASKS, rows)}


def _at(frames: float, values: dict[str, float]) -> dict[str, tuple[Point, ...]]:
    return {task: ((frames, v),) for task, v in values.items()}


_PLANET_1M = dict(zip(_DMC_TASKS, (951.0, 821.0, 662.0, 832.0, 700.0, 930.0)))
_CEM_SIM_1M = dict(zip(_DMC_TASKS, (964.0, 850.0, 656.0, 825.0, 993.0, 994.0)))
_PROPRIO_TASKS = ("cartpole_swingup", "walker_walk", "cheetah_run", "reacher_easy")


def _proprio(rows: tuple[tuple[float, float], ...]) -> dict[str, tuple[Point, ...]]:
    return {
        task: tuple(zip((500_000.0, 1_000_000.0), row)) for task, row in zip(_PROPRIO_TASKS, rows)
    }


# The official DreamerV3 DMC proprio file (REFERENCE.md): window means over the 50k frames before
# 50k and 100k frames and over 450k-490k frames (the file's last point is 490k, so x = 490k).
_PROPRIO_2023_BUDGETS = (50_000.0, 100_000.0, 490_000.0)
_PROPRIO_2023 = {
    "cartpole_balance": (378.0, 731.0, 991.0),
    "cartpole_swingup": (226.0, 452.0, 851.0),
    "reacher_easy": (317.0, 773.0, 951.0),
    "cup_catch": (317.0, 740.0, 964.0),  # ball_in_cup_catch (see _ALIASES)
    "finger_spin": (245.0, 691.0, 932.0),
    "walker_walk": (154.0, 427.0, 937.0),
    "cheetah_run": (130.0, 285.0, 606.0),
    "hopper_stand": (15.0, 86.0, 585.0),
}

_WINDOW = "mean of all training episodes in the 50k frames before each budget"
_V3_CURRENT = (
    "current release (commit e3f0224): DMC vision 64x64, action repeat 1, train ratio 256, "
    "size200m (the release default, ~200M parameters), LaProp + AGC, REINFORCE; 10 seeds; "
    + _WINDOW
)
_V3_2023 = (
    "2023 release (commit 8fa35f8): DMC vision 64x64, action repeat 2, train ratio 512, "
    "its dmc_vision size (deter 512, units 512, 2 layers, CNN depth 32), Adam, dynamics backprop "
    "for continuous actions; 5 seeds; " + _WINDOW
)
_V3_PROPRIO_2023 = (
    "2023 code's dmc_proprio setting (both releases ship this file): DMC proprio, action repeat "
    "2, train ratio 512, deter 512, units 512, 2 layers; 5 seeds; mean of training episodes in "
    "the 50k frames before 50k / 100k frames and in 450k-490k (the file ends at 490k); the "
    "current config's size1m / train ratio 1024 has no published scores"
)


REFERENCES: dict[str, Reference] = {
    r.name: r
    for r in (
        Reference(
            "dreamerv1",
            "DreamerV1",
            "DreamerV1 scores/dreamer.json (DMC vision)",
            _dmc(
                (
                    (137, 886, 956),
                    (139, 678, 855),
                    (128, 630, 713),
                    (125, 430, 603),
                    (8, 339, 515),
                    (73, 962, 967),
                )
            ),
            "DMC vision 64x64, action repeat 2, train ratio 500 (100 updates of 50x50 rows per "
            "1000 frames); " + _WINDOW,
        ),
        Reference(
            "dreamerv2",
            "DreamerV2",
            "DreamerV2 scores/dmc-vision-dreamerv2.json",
            _dmc(
                (
                    (408, 934, 956),
                    (387, 853, 865),
                    (332, 610, 732),
                    (211, 876, 951),
                    (323, 386, 425),
                    (532, 792, 804),
                )
            ),
            "DMC vision 64x64, action repeat 2, train ratio 160 (an update of 16x50 rows every 5 "
            "policy steps); " + _WINDOW,
        ),
        Reference(
            "dreamerv3",
            "DreamerV3",
            "DreamerV3 current release, scores/dmc_vision-dreamerv3.json.gz",
            _dmc(
                (
                    (540, 940, 960),
                    (483, 840, 860),
                    (288, 655, 836),
                    (373, 832, 953),
                    (480, 573, 589),
                    (774, 967, 972),
                )
            ),
            _V3_CURRENT,
        ),
        Reference(
            "dreamerv3_2023",
            "DreamerV3 (2023)",
            "DreamerV3 2023 release, scores/data/dmcvision_dreamerv3.json.gz",
            _dmc(
                (
                    (368, 953, 963),
                    (179, 728, 831),
                    (297, 617, 780),
                    (206, 843, 929),
                    (459, 826, 830),
                    (509, 883, 971),
                )
            ),
            _V3_2023,
        ),
        Reference(
            "dreamerv3_proprio_2023",
            "DreamerV3 (2023, proprio)",
            "DreamerV3 scores/dmc_proprio-dreamerv3.json.gz "
            "(= 2023 release scores/data/dmcproprio_dreamerv3.json.gz)",
            {t: tuple(zip(_PROPRIO_2023_BUDGETS, v)) for t, v in _PROPRIO_2023.items()},
            _V3_PROPRIO_2023,
        ),
        Reference(
            "drqv2",
            "DrQ-v2",
            "DrQ-v2 (DMC vision)",
            _dmc(
                (
                    (130, 704, 768),
                    (479, 838, 863),
                    (226, 592, 716),
                    (220, 738, 944),
                    (280, 780, 861),
                    (221, 841, 920),
                )
            ),
            "model-free, DMC vision 84x84, action repeat 2, 3 stacked frames; read from its "
            "paper's curves",
        ),
        Reference(
            "planet",
            "PlaNet",
            "PlaNet paper, table 1 (CEM over an RSSM, 1M steps)",
            _at(1_000_000.0, _PLANET_1M),
            "CEM over an RSSM (horizon 12, 1000 candidates, 10 iterations, top 100), per-task "
            "action repeat, DMC vision, at 1M env steps",
        ),
        Reference(
            "cem_simulator",
            "CEM + true simulator",
            "PlaNet paper, table 1 (CEM with the simulator)",
            _at(1_000_000.0, _CEM_SIM_1M),
            "CEM with the true simulator at PlaNet's settings, at 1M env steps",
        ),
        Reference(
            "sac_proprio",
            "SAC (proprio)",
            "TD-MPC2 result files",
            _proprio(((835, 839), (953, 957), (595, 730), (918, 914))),
            "DMC proprio, at 500k / 1M env steps",
        ),
        Reference(
            "tdmpc2_proprio",
            "TD-MPC2 (proprio)",
            "TD-MPC2 result files",
            _proprio(((876, 876), (979, 980), (758, 844), (919, 983))),
            "DMC proprio, at 500k / 1M env steps",
        ),
        Reference(
            "dreamerv3_proprio",
            "DreamerV3 (proprio, TD-MPC2 files)",
            "TD-MPC2 result files",
            _proprio(((789, 780), (878, 821), (494, 638), (940, 915))),
            "DMC proprio, DreamerV3 as reported in TD-MPC2's result files (not the official "
            "score file: see dreamerv3_proprio_2023), at 500k / 1M env steps",
        ),
        Reference(
            "cleanrl_ppo",
            "PPO (CleanRL)",
            "CleanRL benchmark",
            {"CartPole-v1": ((500_000.0, 490.0),)},
            "gymnasium, training-episode returns",
        ),
        Reference(
            "cleanrl_dqn",
            "DQN (CleanRL)",
            "CleanRL benchmark",
            {"CartPole-v1": ((500_000.0, 489.0),)},
            "gymnasium, training-episode returns",
        ),
        Reference(
            "cleanrl_sac",
            "SAC (CleanRL, approx.)",
            "CleanRL benchmark",
            {"HalfCheetah-v4": ((1_000_000.0, 9600.0),)},
            "gymnasium, training-episode returns",
        ),
        Reference(
            "cleanrl_td3",
            "TD3 (CleanRL, approx.)",
            "CleanRL benchmark",
            {"HalfCheetah-v4": ((1_000_000.0, 9600.0),)},
            "gymnasium, training-episode returns",
        ),
        Reference(
            "sb3_ppo",
            "PPO (SB3 zoo)",
            "rl-baselines3-zoo",
            {"CartPole-v1": ((100_000.0, 500.0),)},
            "gymnasium, tuned zoo hyperparameters",
        ),
        Reference(
            "sb3_dqn",
            "DQN (SB3 zoo)",
            "rl-baselines3-zoo",
            {"CartPole-v1": ((50_000.0, 500.0),)},
            "gymnasium, tuned zoo hyperparameters",
        ),
    )
}


def get_references(names: list[str]) -> list[Reference]:
    """The references named in `names` (in that order); unknown names raise a ValueError listing
    the valid ones."""
    unknown = [n for n in names if n not in REFERENCES]
    if unknown:
        raise ValueError(
            f"unknown reference(s) {', '.join(unknown)}; valid: {', '.join(REFERENCES)}"
        )
    return [REFERENCES[n] for n in names]
