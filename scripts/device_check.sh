#!/usr/bin/env bash
# The device checks of issues 11 and 15 in one call, each step under its own time limit (so one
# slow compile cannot eat the call), results written under $OUT as they come:
#   0. the CUDA tests (the graphed update against the eager one);
#   1. the Dreamer update at issue 11's proprio config (preset=dreamer_v3, size1m, 5-dim vector,
#      1-dim action: cartpole), eager, compiled and CUDA-graph captured (agent.cuda_graph);
#   2. the DreamerV3-S update on 64x64 pixels (preset=dreamer_v3_2023), eager and captured;
#   3. CEM at PlaNet's setting over a DreamerV3-S model, 1 and 16 envs;
#   4. an end-to-end dmc_vision walker_walk run (preset=dreamer_v3_2023, agent.cuda_graph on the
#      GPU) for a fixed wall time: its frames/s and updates/s in the loop, env workers included;
#   5. the peer: sheeprl's DreamerV3-S on walker_walk pixels (when packed with --peers);
#   6. the DreamerV3-S update compiled (last: its compile time is the unknown).
#   GPU session (after ../shared/device/prepare --peers; run with carry [".device"]):
#     source .device/enter.sh && bash scripts/device_check.sh --device cuda
#   CPU smoke (tiny sizes, under a minute; no compile, no peer): bash scripts/device_check.sh --device cpu
set -uo pipefail
device=cuda
[ "${1:-}" = "--device" ] && device=${2:-cuda}
out=${OUT:-/tmp/device_check}; mkdir -p "$out"
py=python3; [ -x .venv/bin/python ] && [ "$device" = cpu ] && py=.venv/bin/python
if [ "$device" = cpu ]; then
  proprio=(--size xs --batch 2 --length 8 --horizon 3 --iters 2 --warmup 1)
  pixels=(--size xs --batch 2 --length 8 --horizon 3 --iters 2 --warmup 1)
  planner=(--size xs --envs 1,2 --horizon 3 --candidates 16 --iterations 2 --elites 4 --iters 1 --warmup 1 --modes eager)
  train=(trainer=debug env=dummy env.task=reach)
  limits=(120 120 120 120 60 180 120); peer=0; modes=eager,graph
else
  proprio=(--size size1m --iters 20 --warmup 3)
  pixels=(--size s --iters 10 --warmup 3)
  planner=(--size s --envs 1,16 --modes eager)
  train=(preset=dreamer_v3_2023 env=dmc_vision env.task=walker_walk agent.cuda_graph=true trainer.steps=100000 trainer.eval_every=100000 trainer.log_every=1000)
  limits=(90 60 60 100 180 90 60); peer=1; modes=eager,compiled,graph
fi
step() {  # step NAME LIMIT CMD...: run CMD under LIMIT seconds, output to $out/NAME.txt
  local name=$1 limit=$2; shift 2
  echo "== $name (limit ${limit}s) $(date -u +%T)" | tee -a "$out/steps.txt"
  timeout -k 15 "$limit" "$@" > "$out/$name.txt" 2>&1
  echo "   rc $? $(date -u +%T)" | tee -a "$out/steps.txt"
  tail -n 8 "$out/$name.txt"
}
{ date -u; uptime; git rev-parse HEAD; nvidia-smi -L 2>/dev/null; $py -c "import torch; print(torch.__version__)"; } > "$out/env.txt"
cat "$out/env.txt"
step tests "${limits[6]}" $py -m pytest -q tests/agents/test_cuda_graph_option.py -rs
step proprio "${limits[0]}" $py scripts/bench.py dreamer --device "$device" --preset dreamer_v3 \
  --obs vector --vector-dim 5 --action-dim 1 --modes "$modes" "${proprio[@]}"
step pixels "${limits[1]}" $py scripts/bench.py dreamer --device "$device" --preset dreamer_v3_2023 \
  --modes eager,graph "${pixels[@]}"
step planner "${limits[2]}" $py scripts/bench.py planner --device "$device" "${planner[@]}"
# the run dir stays outside $OUT (a stopped run writes its checkpoint and replay); its logs come back
run=$(mktemp -d)/train_run
step train "${limits[3]}" $py -m worldmodels.train device="$device" run_dir="$run" \
  logger.progress=false "${train[@]}"
mkdir -p "$out/train_run"; cp "$run"/{metrics.jsonl,status.json,train.log,metadata.json} "$out/train_run/" 2>/dev/null
if ((peer)) && [ -f .device/peers/sheeprl_dreamer_v3.sh ]; then
  step peer "${limits[4]}" bash .device/peers/sheeprl_dreamer_v3.sh $((limits[4] - 20))
fi
if [ "$device" != cpu ]; then  # its compile is the slow part; the CPU tests compile cells already
  step pixels_compiled "${limits[5]}" $py scripts/bench.py dreamer --device "$device" \
    --preset dreamer_v3_2023 --modes compiled "${pixels[@]}"
fi
echo "results in $out"
