"""Diagnostic wrapper (not committed): runs worldmodels.train with the actor loss instrumented.
Writes DIAG_OUT jsonl: per update adv stats, and the gradient of the REINFORCE and entropy parts
of the actor loss w.r.t. the std head (weight, bias) and the mean head."""

import json
import os

import torch

import worldmodels.agents.dreamer as D

# open for the whole training run, flushed per record
OUT = open(os.environ.get("DIAG_OUT", "/tmp/wt11diag/diag.jsonl"), "w")  # noqa: SIM115
AGENT = {}
_init = D.DreamerAgent.__init__


def init(self, *a, **k):
    _init(self, *a, **k)
    AGENT["a"] = self


D.DreamerAgent.__init__ = init
_orig = D.actor_loss
STEP = [0]


def actor_loss(ret, base, log_prob, entropy, weight, scale, rho, coef, *rest):
    loss = _orig(ret, base, log_prob, entropy, weight, scale, rho, coef, *rest)
    a = AGENT.get("a")
    STEP[0] += 1
    if a is not None and (STEP[0] % 4 == 0) and log_prob.requires_grad:
        adv = ((ret - base) / scale).detach()
        pr = [a.actor.std.weight, a.actor.std.bias, a.actor.mean.weight, a.actor.mean.bias]
        rf = -(weight * log_prob * adv).mean()
        en = -(weight * coef * entropy).mean()
        g_rf = torch.autograd.grad(rf, pr, retain_graph=True)
        g_en = torch.autograd.grad(en, pr, retain_graph=True)
        with torch.no_grad():
            rec = dict(
                step=STEP[0],
                adv_mean=adv.mean().item(),
                adv_std=adv.std().item(),
                adv_mag=adv.abs().mean().item(),
                scale=float(scale),
                ret=ret.mean().item(),
                base=base.mean().item(),
                weight=weight.mean().item(),
                ent=entropy.mean().item(),
                rf_stdw=g_rf[0].norm().item(),
                en_stdw=g_en[0].norm().item(),
                rf_stdb=g_rf[1].item(),
                en_stdb=g_en[1].item(),
                rf_meanw=g_rf[2].norm().item(),
                rf_meanb=g_rf[3].item(),
                cos_stdw=torch.nn.functional.cosine_similarity(
                    g_rf[0].flatten(), g_en[0].flatten(), 0
                ).item(),
            )
        OUT.write(json.dumps(rec) + "\n")
        OUT.flush()
    return loss


D.actor_loss = actor_loss

if os.environ.get("EMULATE_XLA_FMA"):
    # Emulates what XLA CPU makes of the official TwoHot.pred (embodied/jax/outs.py 285-309): the
    # pairwise (p_lo b_lo)[::-1] + p_hi b_hi is contracted into fma(p_lo, b_lo, fl(p_hi b_hi)),
    # so antisymmetric pairs leave the rounding error of p_hi b_hi instead of cancelling.
    from worldmodels.models import dists as _d

    _mean = _d.TwoHot.mean.fget

    def mean(self):
        if self.space != "symexp":
            return _mean(self)
        probs = torch.softmax(self.logits, -1)
        n = self.bins.shape[0]
        m = n // 2
        hi = (probs[..., m + 1 :] * self.bins[m + 1 :]).double()  # rounded in float32
        lo = probs[..., :m].double() * self.bins[:m].double()  # exact inside the fma
        pair = (lo.flip(-1) + hi).float()
        return probs[..., m] * self.bins[m] + pair.sum(-1)

    _d.TwoHot.mean = property(mean)
from worldmodels.train import cli  # noqa: E402 (after the patches above, so the agent uses them)

cli()
