"""Records, per parameter tensor, how often LaProp's AGC clips it (ratio > 1) and the mean ratio."""

import collections
import json
import os

import torch

import worldmodels.agents.dreamer as D
import worldmodels.models.laprop as L

NAMES = {}
_init = D.DreamerAgent.__init__


def init(self, *a, **k):
    _init(self, *a, **k)
    for pre, mod in (("wm.", self.world_model), ("actor.", self.actor), ("critic.", self.critic)):
        for n, p in mod.named_parameters():
            NAMES[id(p)] = pre + n


D.DreamerAgent.__init__ = init
STATS = collections.defaultdict(lambda: [0, 0, 0.0])
CALLS = [0]
_clip = L.clip_by_agc


def clip(grads, params, c, pmin):
    CALLS[0] += 1
    with torch.no_grad():
        for g, p in zip(grads, params):
            r = (g.norm() / (c * max(pmin, p.norm().item()))).item()
            s = STATS[NAMES.get(id(p), "?")]
            s[0] += 1
            s[1] += r > 1
            s[2] += r
    if CALLS[0] % 20 == 0:
        with open(os.environ["DIAG_OUT"], "w") as f:
            json.dump({k: [v[0], v[1], v[2] / v[0]] for k, v in STATS.items()}, f, indent=0)
    return _clip(grads, params, c, pmin)


L.clip_by_agc = clip
from worldmodels.train import cli  # noqa: E402 (after the patch above, so the agent uses it)

cli()
