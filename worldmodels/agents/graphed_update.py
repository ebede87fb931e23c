"""One CUDA graph for a whole update (issue 15): forward, backward and optimizer steps replayed
as one launch.

Why: on a GPU a Dreamer update is launch-bound. Its 64 observe and 15 imagination steps run one
after the other, each a few dozen small kernels forward and backward, so an H200 spends most of
an update waiting on the host (benchmarks/RESULTS.md, "First GPU figures": the 0.64M-parameter
update is no faster there than on one CPU core). Capturing the update once and replaying it
removes the per-kernel host cost. torch.compile's "reduce-overhead" mode graphs only the regions
it compiles; one graph for the whole step is the explicit `torch.cuda.graph` capture of the
PyTorch docs ("whole-network capture"). Capturing compiled cells failed on the GPU (torch 2.11),
so the agent captures eager cells only.

What capture requires of the step, and where this code base provides it:
- no host sync (tests/agents/test_dreamer_no_sync.py) and fixed shapes (the batch is B x T);
- optimizers whose step state lives on the device: fused Adam with `capturable=True` (set here on
  every param group), LaProp's capturable path (models/laprop.py);
- autocast without its weight-cast cache while capturing (models/optim.py `autocast`);
- Python-side state the step changes must change the same way on every replay: the caller keeps
  counters and conditionals outside the captured function, and `after_replay` hooks advance host
  copies of device counters (LaProp's step).

Use: `step = GraphedStep(fn, optimizers, device)`; `step(batch)` runs `fn` eagerly for the first
`warmup` calls (on a side stream, as capture needs: cuBLAS handles and optimizer state are
created there), captures it on the next call and replays the graph from then on. Every
call is one real update. The batch is copied into static input tensors; outputs are cloned, so a
caller may keep them past the next call.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import torch

Batch = dict[str, torch.Tensor]


class GraphedStep:
    """`fn(batch) -> metrics` run eagerly `warmup` times, then captured and replayed."""

    def __init__(
        self,
        fn: Callable[[Batch], Batch],
        optimizers: Iterable[torch.optim.Optimizer],
        device: torch.device,
        warmup: int = 3,
        after_replay: Iterable[Callable[[], None]] = (),
    ) -> None:
        if device.type != "cuda":
            raise ValueError(
                f"agent.cuda_graph=true captures the update as a CUDA graph and needs device=cuda; "
                f"got device={device}. Valid: cuda_graph=false on {device.type}"
            )
        if warmup < 1:
            raise ValueError(f"GraphedStep: warmup must be >= 1 (capture needs one), got {warmup}")
        self.fn = fn
        self.device = device
        self.warmup = warmup
        self.after_replay = list(after_replay)
        for opt in optimizers:
            for group in opt.param_groups:
                group["capturable"] = True
        self.calls = 0
        self.capture_s: float | None = None
        self._graph: torch.cuda.CUDAGraph | None = None
        self._static_in: Batch = {}
        self._static_out: Batch = {}
        self._stream: torch.cuda.Stream | None = None

    def __call__(self, batch: Batch) -> Batch:
        self.calls += 1
        if self._graph is None and self.calls <= self.warmup:
            return self._eager_on_side_stream(batch)
        captured_now = self._graph is None
        if captured_now:
            self._capture(batch)
        else:
            self.check_shapes(batch)
            for k, v in batch.items():
                self._static_in[k].copy_(v, non_blocking=True)
        assert self._graph is not None
        self._graph.replay()
        if not captured_now:  # the capture ran the step's Python once: its host counters moved
            for hook in self.after_replay:
                hook()
        return {k: v.clone() for k, v in self._static_out.items()}

    def _eager_on_side_stream(self, batch: Batch) -> Batch:
        if self._stream is None:
            self._stream = torch.cuda.Stream(self.device)
        main = torch.cuda.current_stream(self.device)
        self._stream.wait_stream(main)
        with torch.cuda.stream(self._stream):
            out = self.fn(batch)
        main.wait_stream(self._stream)
        return out

    def _capture(self, batch: Batch) -> None:
        t0 = time.perf_counter()
        self._static_in = {k: v.clone() for k, v in batch.items()}
        torch.cuda.synchronize(self.device)
        graph = torch.cuda.CUDAGraph()
        # capture records kernels without running them: the replay below is this call's update
        try:
            with torch.cuda.graph(graph):
                self._static_out = self.fn(self._static_in)
        except RuntimeError as err:
            first = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise RuntimeError(
                f"agent.cuda_graph: capturing the update failed ({first}). Capture is measured "
                "to work with eager cells; with torch.compile'd ones (agent.compile, "
                "agent.world_model.compile) it failed on torch 2.11 / H200: set those false"
            ) from err
        torch.cuda.synchronize(self.device)
        self._graph = graph
        self.capture_s = time.perf_counter() - t0

    def check_shapes(self, batch: Batch) -> None:
        """A captured graph replays one shape: a batch of another shape is an error, not a
        silent wrong update."""
        if set(batch) != set(self._static_in):
            raise ValueError(
                f"cuda_graph: batch keys {sorted(batch)} differ from the captured update's "
                f"{sorted(self._static_in)}"
            )
        for k, v in batch.items():
            s = self._static_in[k]
            if s.shape != v.shape or s.dtype != v.dtype:
                raise ValueError(
                    f"cuda_graph: batch[{k!r}] is {tuple(v.shape)} {v.dtype}, the captured "
                    f"update takes {tuple(s.shape)} {s.dtype}; the batch shape must stay fixed"
                )
