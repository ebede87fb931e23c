"""DQN head: double DQN with a dueling head, n-step targets (from the replay), Huber loss, a target
network (hard copy every `target_every` updates, or Polyak with `target_tau < 1`), and an
epsilon-greedy schedule in explore mode (eval is greedy). Pixels go through the CNN encoder with
DrQ random-shift augmentation.

Discrete actions only: actions are one-hot [B, A] in and out.

With `input=latent` the Q network reads features of a world model the head owns
(worldmodels/agents/latent.py) instead of encoding observations; its data becomes sequences and each
update is a world-model step, then DQN on one-step transitions between the batch's consecutive
posterior features. With `imagination=true` DQN learns purely from transitions imagined H steps
ahead from those posteriors by its own epsilon-greedy policy (one-hot actions).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from worldmodels.agents.base import ActMode, Agent, DataSpec
from worldmodels.agents.latent import LatentFeatures, LatentState, check_modes
from worldmodels.envs.spaces import ActSpec, ObsSpec
from worldmodels.models.actor_critic import (
    DuelingQ,
    ObsEncoder,
    activation,
    check_action_space,
    check_mode,
    make_trunk,
)
from worldmodels.models.base import WorldModelBase
from worldmodels.models.nets import mlp
from worldmodels.models.optim import (
    adam,
    autocast,
    clip_grads,
    polyak_,
)


class QNetwork(nn.Module):
    """Observation dict -> Q values [B, A]: encoder, then a dueling (or plain MLP) head.
    With `obs_spec=None` it reads features [B, feat_dim] directly (world-model features)."""

    def __init__(
        self,
        obs_spec: ObsSpec | None,
        n_actions: int,
        units: int,
        layers: int,
        norm: bool,
        act: str,
        dueling: bool,
        cnn_depth: int,
        aug_pad: int,
        trunk_dim: int,
        feat_dim: int = 0,
    ):
        super().__init__()
        self.encoder: ObsEncoder | None = None
        if obs_spec is not None:
            self.encoder = ObsEncoder(obs_spec, cnn_depth=cnn_depth, aug_pad=aug_pad)
            in_dim, trunk = self.encoder.out_dim, (trunk_dim if self.encoder.has_image else 0)
        else:
            in_dim, trunk = feat_dim, 0
        self.head: nn.Module
        if dueling:
            self.head = DuelingQ(in_dim, n_actions, units, layers, norm, act, trunk)
        else:
            trunk_net, dim = make_trunk(in_dim, trunk)
            self.head = nn.Sequential(
                trunk_net, mlp(dim, n_actions, units, layers, norm=norm, act=activation(act))
            )

    def forward(
        self, x: dict[str, torch.Tensor] | torch.Tensor, augment: bool = False
    ) -> torch.Tensor:
        """Observations (a dict) or, without an encoder, features [B, F] -> Q values [B, A]."""
        if self.encoder is not None:
            assert isinstance(x, dict), "this Q network encodes observation dicts"
            x = self.encoder(x, augment)
        assert isinstance(x, torch.Tensor)
        return self.head(x)  # [B, A]


class DQNAgent(Agent):
    """Double / dueling / n-step DQN on the shared transitions replay.

    Args (plain, from configs/agent/dqn.yaml):
        input: "obs" (raw observations) or "latent" (world-model features, see module docstring).
        imagination: learn from imagined transitions only (needs input=latent).
        world_model: the world model of input=latent: its config node (configs/world_model/,
            `_target_` + options) or a built one (models/base.py).
        latent: latent-mode settings, the `LatentConfig` fields (batch_size, batch_length,
            horizon, train, lr, eps, clip).
        world_model_path: RUN_DIR/world_model.pt of a run to start the world model from.
        units, layers, act, norm: the Q head's MLP. cnn_depth, aug_pad, trunk_dim: pixel encoder.
        batch, n_step, gamma: what the loop samples (`replay.sample_transitions`).
        lr, adam_eps, max_grad_norm: optimizer.
        target_every, target_tau: target sync every N updates; tau=1 is a hard copy.
        eps_start, eps_end, eps_decay_steps: linear epsilon schedule over env steps acted in
            explore mode (counted on the host).
        double, dueling: the two DQN improvements (switches for ablations).
    """

    def __init__(
        self,
        obs_spec: ObsSpec,
        act_spec: ActSpec,
        device: str | torch.device = "cpu",
        input: str = "obs",
        imagination: bool = False,
        world_model: Mapping[str, Any] | WorldModelBase | None = None,
        latent: Mapping[str, Any] | None = None,
        world_model_path: str | None = None,
        units: int = 256,
        layers: int = 2,
        act: str = "relu",
        norm: bool = False,
        cnn_depth: int = 32,
        aug_pad: int = 4,
        trunk_dim: int = 50,
        batch: int = 64,
        n_step: int = 3,
        gamma: float = 0.99,
        lr: float = 1e-3,
        adam_eps: float = 1e-8,
        max_grad_norm: float = 10.0,
        target_every: int = 1,
        target_tau: float = 0.01,
        eps_start: float = 1.0,
        eps_end: float = 0.02,
        eps_decay_steps: int = 8_000,
        double: bool = True,
        dueling: bool = True,
    ):
        super().__init__(obs_spec, act_spec, device)
        check_modes(input, imagination, "dqn")
        check_action_space(act_spec, True, "dqn")
        if not 0.0 < target_tau <= 1.0 or target_every < 1:
            raise ValueError(
                f"dqn: need 0 < target_tau <= 1 and target_every >= 1, "
                f"got {target_tau}, {target_every}"
            )
        self.imagination, self.gamma = imagination, gamma
        self.latent: LatentFeatures | None = None
        q_obs_spec: ObsSpec | None = obs_spec
        feat_dim = 0
        if input == "latent":
            self.latent = LatentFeatures(
                obs_spec, act_spec, self.device, world_model, latent, world_model_path, "dqn"
            )
            self.world_model = self.latent.wm
            lc = self.latent.cfg
            self.data = DataSpec("sequences", batch=lc.batch_size, length=lc.batch_length)
            q_obs_spec, feat_dim = None, self.latent.feat_dim
        else:
            self.data = DataSpec(kind="transitions", batch=batch, n_step=n_step, gamma=gamma)
        self.q = QNetwork(
            q_obs_spec,
            act_spec.dim,
            units,
            layers,
            norm,
            act,
            dueling,
            cnn_depth,
            aug_pad,
            trunk_dim,
            feat_dim,
        )
        self.q.to(self.device)
        self.q_target = copy.deepcopy(self.q).requires_grad_(False)
        self.params = list(self.q.parameters())
        self.opt = adam(self.params, lr, adam_eps)
        self.max_grad_norm = max_grad_norm
        self.target_every, self.target_tau = target_every, target_tau
        self.eps_start, self.eps_end, self.eps_decay_steps = eps_start, eps_end, eps_decay_steps
        self.double = double
        self.updates = 0  # gradient updates so far (host counter: drives target syncs)
        self.env_steps = 0  # env steps acted in explore mode (host counter: drives epsilon)

    def epsilon(self) -> float:
        """Linear decay from eps_start to eps_end over eps_decay_steps explore env steps."""
        frac = min(self.env_steps / max(self.eps_decay_steps, 1), 1.0)
        return self.eps_start + frac * (self.eps_end - self.eps_start)

    def init_state(self, batch_size: int) -> LatentState | None:
        """Latent input: (posterior [B], previous action [B, A]); otherwise None."""
        return self.latent.init_state(batch_size) if self.latent is not None else None

    def _policy(self, q: torch.Tensor, explore: bool) -> torch.Tensor:
        """Q values [B, A] -> one-hot actions [B, A]: greedy, or epsilon-greedy when exploring."""
        idx = q.argmax(-1)  # [B]
        if explore:
            B, A = q.shape
            random_idx = torch.randint(A, (B,), device=q.device)
            idx = torch.where(torch.rand(B, device=q.device) < self.epsilon(), random_idx, idx)
        return F.one_hot(idx, self.act_spec.dim).float()

    @torch.no_grad()
    def act(
        self, obs: dict[str, torch.Tensor], state: Any, mode: ActMode
    ) -> tuple[torch.Tensor, Any]:
        check_mode(mode)
        if self.latent is not None:  # eval filters with posterior modes: deterministic
            feat, post = self.latent.observe(obs, state, sample=mode == "explore")
            q = self.q(feat)  # [B, A]
        else:
            q = self.q(obs)  # [B, A]
        action = self._policy(q, mode == "explore")
        if mode == "explore":
            self.env_steps += q.shape[0]
        return action, ((post, action) if self.latent is not None else state)

    def update(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """One DQN step on transitions; with latent input a world-model step on the sequences
        batch first, then DQN on its posterior features (or on imagined transitions)."""
        if self.latent is None:
            return self._step(
                batch["obs"],
                batch["action"],
                batch["reward"],
                batch["discount"],
                batch["next_obs"],
                None,
            )
        # imagined behaviour is epsilon-greedy as the real one: Q-learning needs off-greedy
        # actions to correct its estimates
        return self.latent.update_head(
            batch,
            self._step,
            lambda f: self._policy(self.q(f), explore=True),
            self.gamma,
            self.imagination,
        )

    def _step(
        self,
        obs: dict[str, torch.Tensor] | torch.Tensor,
        action: torch.Tensor,
        reward: torch.Tensor,
        discount: torch.Tensor,
        next_obs: dict[str, torch.Tensor] | torch.Tensor,
        weight: torch.Tensor | None,
    ) -> dict[str, torch.Tensor]:
        """Q step on observations (dicts, encoded with augmentation) or features [M, F],
        one-hot actions [M, A], rewards/discounts [M]; `weight` [M] weighs the transitions
        (None: all count)."""
        action_idx = action.argmax(-1)  # [M] (one-hot in)
        with autocast(self.device):
            with torch.no_grad():
                q_next_target = self.q_target(next_obs, augment=True)  # [M, A]
                if self.double:  # the online net picks, the target net evaluates
                    next_action = self.q(next_obs, augment=True).argmax(-1, keepdim=True)
                else:
                    next_action = q_next_target.argmax(-1, keepdim=True)
                target = reward + discount * q_next_target.gather(-1, next_action).squeeze(
                    -1
                )  # [M]
            q = self.q(obs, augment=True)  # [M, A]
            q_taken = q.gather(-1, action_idx[:, None]).squeeze(-1).float()  # [M]
            if weight is None:
                loss = F.smooth_l1_loss(q_taken, target.float())
                target_mean = target.float().mean()
            else:
                err = F.smooth_l1_loss(q_taken, target.float(), reduction="none")  # [M]
                norm = weight.sum().clamp_min(1.0)
                loss = (err * weight).sum() / norm
                target_mean = (target.float() * weight).sum() / norm
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = clip_grads(self.params, self.max_grad_norm)
        self.opt.step()
        self.updates += 1
        if self.updates % self.target_every == 0:
            polyak_(self.q_target, self.q, self.target_tau)
        return {
            "agent/q_loss": loss.detach(),
            "agent/q_mean": q_taken.detach().mean(),
            "agent/target_mean": target_mean,
            "agent/grad_norm": grad_norm,
        }

    def observe_metrics(self) -> dict[str, float]:
        return {"agent/epsilon": self.epsilon()}

    def state_dict(self) -> dict[str, Any]:
        state = {
            "q": self.q.state_dict(),
            "q_target": self.q_target.state_dict(),
            "optim": self.opt.state_dict(),
            "counters": {"updates": self.updates, "env_steps": self.env_steps},
        }
        if self.latent is not None:
            state.update(self.latent.state_dict_parts())
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.latent is not None:
            self.latent.load_state_dict_parts(state)
        self.q.load_state_dict(state["q"])
        self.q_target.load_state_dict(state["q_target"])
        self.opt.load_state_dict(state["optim"])
        self.updates = int(state["counters"]["updates"])
        self.env_steps = int(state["counters"]["env_steps"])
