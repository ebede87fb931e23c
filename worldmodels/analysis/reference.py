"""Published results (from the project's REFERENCE.md) as data, to draw beside a sweep's curves.

x is in environment frames, like our `env_frames`: the DMC numbers are the papers' "env steps" at
action repeat 2, which count frames (1M env steps = 500k policy steps). DMC vision values are
window means of all training episodes in the 50k steps before each budget, averaged over seeds,
from the score files released with DreamerV1/V2/V3 (DrQ-v2 from its paper's curves); treat them as
markers of where a faithful reproduction should land, not as exact targets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

Point = tuple[float, float]  # (env frames, return)


@dataclass(frozen=True)
class Reference:
    """One published method's returns on a suite: {task: ((frames, return), ...)}."""

    name: str
    label: str
    source: str
    points: dict[str, tuple[Point, ...]]

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
        ),
        Reference(
            "dreamerv3",
            "DreamerV3",
            "DreamerV3 scores/dmc_vision-dreamerv3.json.gz",
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
        ),
        Reference(
            "planet",
            "PlaNet",
            "PlaNet paper, table 1 (CEM over an RSSM, 1M steps)",
            _at(1_000_000.0, _PLANET_1M),
        ),
        Reference(
            "cem_simulator",
            "CEM + true simulator",
            "PlaNet paper, table 1 (CEM with the simulator)",
            _at(1_000_000.0, _CEM_SIM_1M),
        ),
        Reference(
            "sac_proprio",
            "SAC (proprio)",
            "TD-MPC2 result files",
            _proprio(((835, 839), (953, 957), (595, 730), (918, 914))),
        ),
        Reference(
            "tdmpc2_proprio",
            "TD-MPC2 (proprio)",
            "TD-MPC2 result files",
            _proprio(((876, 876), (979, 980), (758, 844), (919, 983))),
        ),
        Reference(
            "dreamerv3_proprio",
            "DreamerV3 (proprio)",
            "TD-MPC2 result files",
            _proprio(((789, 780), (878, 821), (494, 638), (940, 915))),
        ),
        Reference(
            "cleanrl_ppo",
            "PPO (CleanRL)",
            "CleanRL benchmark",
            {"CartPole-v1": ((500_000.0, 490.0),)},
        ),
        Reference(
            "cleanrl_dqn",
            "DQN (CleanRL)",
            "CleanRL benchmark",
            {"CartPole-v1": ((500_000.0, 489.0),)},
        ),
        Reference(
            "cleanrl_sac",
            "SAC (CleanRL, approx.)",
            "CleanRL benchmark",
            {"HalfCheetah-v4": ((1_000_000.0, 9600.0),)},
        ),
        Reference(
            "cleanrl_td3",
            "TD3 (CleanRL, approx.)",
            "CleanRL benchmark",
            {"HalfCheetah-v4": ((1_000_000.0, 9600.0),)},
        ),
        Reference(
            "sb3_ppo", "PPO (SB3 zoo)", "rl-baselines3-zoo", {"CartPole-v1": ((100_000.0, 500.0),)}
        ),
        Reference(
            "sb3_dqn", "DQN (SB3 zoo)", "rl-baselines3-zoo", {"CartPole-v1": ((50_000.0, 500.0),)}
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
