"""The PPO rollout buffer: GAE in the ROW convention on a hand-made episode with a termination and
a truncation, the kept bootstrap row, and the two ways of feeding actions."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from worldmodels.data.rollout import RolloutBuffer
from worldmodels.envs.spaces import ActSpec, ArraySpec, row_spec

SPEC = row_spec({"vector": ArraySpec((1,), "float32")}, ActSpec(2, discrete=True))


def _row(
    t: int, reward: list[float], first: list[int], last: list[int], term: list[int], action=True
):
    row = {
        "vector": np.full((2, 1), t, np.float32),
        "reward": np.array(reward, np.float32),
        "is_first": np.array(first, bool),
        "is_last": np.array(last, bool),
        "is_terminal": np.array(term, bool),
    }
    if action:
        row["action"] = np.eye(2, dtype=np.float32)[[t % 2, (t + 1) % 2]]
    return row


# Two envs, T = 6 transitions (7 rows). Env 0: an episode that terminates at t=2, one truncated
# at t=5, a third starting at t=6. Env 1: one episode, reward 1 per step, never ending.
REWARD_0 = [0, 1, 2, 0, 4, 8, 0]
FIRST_0 = [1, 0, 0, 1, 0, 0, 1]
LAST_0 = [0, 0, 1, 0, 0, 1, 0]
TERM_0 = [0, 0, 1, 0, 0, 0, 0]


def _filled() -> RolloutBuffer:
    buf = RolloutBuffer(6, 2, SPEC)
    for t in range(7):
        buf.add(
            _row(
                t, [REWARD_0[t], float(t > 0)], [FIRST_0[t], t == 0], [LAST_0[t], 0], [TERM_0[t], 0]
            )
        )
    return buf


def test_gae_through_the_buffer_by_hand():
    buf = _filled()
    assert buf.full and len(buf) == 7
    value = torch.tensor(
        [[1.0, 0.0], [2.0, 0.0], [3.0, 0.0], [4.0, 0.0], [5.0, 0.0], [6.0, 0.0], [7.0, 8.0]]
    )
    adv, ret, mask = buf.advantages(value, gamma=0.5, lam=0.5)
    assert adv.shape == ret.shape == mask.shape == (6, 2)
    # Env 0 (gamma = lam = 0.5):
    #  t=1 -> t=2 terminates: delta_1 = 2 - v_1 = 0 (v_2 = 3 is not bootstrapped); A_1 = 0.
    #  t=0: delta_0 = 1 + 0.5 * v_1 - v_0 = 1; A_0 = 1 + 0.25 * A_1 = 1.
    #  t=2 is an is_last row: no transition, mask 0.
    #  t=4 -> t=5 is truncated: delta_4 = 8 + 0.5 * v_5 - v_4 = 6 (bootstraps from v_5); A_4 = 6.
    #  t=3: delta_3 = 4 + 0.5 * 5 - 4 = 2.5; A_3 = 2.5 + 0.25 * 6 = 4.
    #  t=5 is an is_last row: mask 0 (and nothing flows from the next episode into t=4).
    torch.testing.assert_close(adv[:, 0], torch.tensor([1.0, 0.0, 0.0, 4.0, 6.0, 0.0]))
    torch.testing.assert_close(ret[:, 0], torch.tensor([2.0, 2.0, 0.0, 8.0, 11.0, 0.0]))
    torch.testing.assert_close(mask[:, 0], torch.tensor([1.0, 1.0, 0.0, 1.0, 1.0, 0.0]))
    # Env 1: reward 1 per step, v = 0 except v_6 = 8: delta_5 = 1 + 0.5 * 8 = 5, others 1.
    expected = torch.tensor([1.3369140625, 1.34765625, 1.390625, 1.5625, 2.25, 5.0])
    torch.testing.assert_close(adv[:, 1], expected)
    torch.testing.assert_close(ret[:, 1], expected)
    assert (mask[:, 1] == 1).all()


def test_reset_keeps_the_bootstrap_row():
    buf = _filled()
    last = {k: v[-1].clone() for k, v in buf.rows().items()}
    buf.reset()
    assert len(buf) == 1 and not buf.full
    for _ in range(6):
        buf.add(_row(9, [1, 1], [0, 0], [0, 0], [0, 0]))
    rows = buf.rows()
    assert all(v.shape[:2] == (7, 2) for v in rows.values())
    for k, v in last.items():
        assert torch.equal(rows[k][0], v), k
    assert rows["vector"][1:, :, 0].eq(9).all()


def test_full_and_early_calls_are_clear_errors():
    buf = RolloutBuffer(2, 2, SPEC)
    with pytest.raises(ValueError, match="holds 0 of 3 rows"):
        buf.advantages(torch.zeros(3, 2), 0.99, 0.95)
    for t in range(3):
        buf.add(_row(t, [0, 0], [1, 1], [0, 0], [0, 0]))
    with pytest.raises(ValueError, match="full"):
        buf.add(_row(3, [0, 0], [0, 0], [0, 0], [0, 0]))
    with pytest.raises(ValueError, match="value has shape"):
        buf.advantages(torch.zeros(2, 2), 0.99, 0.95)
    with pytest.raises(ValueError, match="'reward' has shape"):
        RolloutBuffer(2, 2, SPEC).add(
            {**_row(0, [0, 0], [1, 1], [0, 0], [0, 0]), "reward": np.zeros(3)}
        )
    with pytest.raises(ValueError, match="num_steps"):
        RolloutBuffer(0, 2, SPEC)


def test_actions_can_be_set_after_the_update():
    buf = RolloutBuffer(1, 2, SPEC)
    buf.add(_row(0, [0, 0], [1, 1], [0, 0], [0, 0], action=False))
    with pytest.raises(ValueError, match="set_action"):
        buf.add(_row(1, [0, 0], [0, 0], [0, 0], [0, 0], action=False))
    buf.set_action(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    buf.add(_row(1, [1, 1], [0, 0], [0, 0], [0, 0], action=False))
    assert buf.full
    buf.reset()  # the update happened: the kept row gets its action from the updated policy
    buf.set_action(torch.tensor([[0.0, 1.0], [0.0, 1.0]]))
    buf.add(_row(2, [1, 1], [0, 0], [0, 0], [0, 0]))
    rows = buf.rows()
    assert torch.equal(rows["action"][0], torch.tensor([[0.0, 1.0], [0.0, 1.0]]))
    assert rows["vector"][0, 0, 0] == 1 and rows["vector"][1, 0, 0] == 2
