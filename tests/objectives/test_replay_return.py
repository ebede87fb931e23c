"""The current DreamerV3 release's replay return (the `repval` target) against a numpy
transcription of its source: dreamerv3/agent.py `repl_loss` (lines 449-479) and `lambda_return`
(lines 482-490) at commit e3f0224."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from worldmodels.objectives.returns import replay_lambda_return


def _source_lambda_return(last, term, rew, val, boot, disc, lam):
    """dreamerv3/agent.py lines 482-490, line for line in numpy ([B, T] arrays)."""
    assert last.shape == term.shape == rew.shape == val.shape == boot.shape
    rets = [boot[:, -1]]
    live = (1 - term.astype(np.float64))[:, 1:] * disc
    cont = (1 - last.astype(np.float64))[:, 1:] * lam
    interm = rew[:, 1:] + (1 - cont) * live * boot[:, 1:]
    for t in reversed(range(live.shape[1])):
        rets.append(interm[:, t] + live[:, t] * cont[:, t] * rets[-1])
    return np.stack(list(reversed(rets))[:-1], 1)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_replay_lambda_return_matches_the_source(seed):
    rng = np.random.default_rng(seed)
    b, t = 4, 9
    rew = rng.normal(size=(b, t))
    boot = rng.normal(size=(b, t)) * 3
    last = rng.random((b, t)) < 0.2
    term = last & (rng.random((b, t)) < 0.5)
    disc, lam = 1 - 1 / 333, 0.95
    ref = _source_lambda_return(last, term, rew, np.zeros_like(rew), boot, disc, lam)
    ours = replay_lambda_return(
        torch.tensor(rew), torch.tensor(last), torch.tensor(term), torch.tensor(boot), disc, lam
    )
    assert ours.shape == (b, t - 1)
    np.testing.assert_allclose(ours.numpy(), ref, rtol=1e-10, atol=1e-10)


def test_an_episode_end_bootstraps_from_the_imagined_return_alone():
    rew = torch.tensor([[0.0, 1.0, 2.0, 3.0]])
    boot = torch.tensor([[10.0, 20.0, 30.0, 40.0]])
    last = torch.tensor([[False, True, False, False]])
    term = torch.zeros_like(last)
    ret = replay_lambda_return(rew, last, term, boot, 0.9, 0.5)
    # R_0 = r_1 + 0.9 * boot_1 (row 1 ends the episode: no lambda mixing past it)
    assert ret[0, 0].item() == pytest.approx(1.0 + 0.9 * 20.0)
    # R_2 = r_3 + 0.9 * ((1 - 0.5) * boot_3 + 0.5 * R_3), R_3 = boot_3
    assert ret[0, 2].item() == pytest.approx(3.0 + 0.9 * 40.0)
    term[0, 1] = True  # a termination: nothing after it
    assert replay_lambda_return(rew, last, term, boot, 0.9, 0.5)[0, 0].item() == 1.0
