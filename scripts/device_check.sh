#!/usr/bin/env bash
# Issue 15's device checks in one call, results written under $OUT as they come.
#   GPU session (after ../shared/device/prepare --peers; run with carry [".device"]):
#     source .device/enter.sh && bash scripts/device_check.sh --device cuda
#   CPU smoke (tiny sizes, under a minute): bash scripts/device_check.sh --device cpu
set -uo pipefail
device=cuda
[ "${1:-}" = "--device" ] && device=${2:-cuda}
out=${OUT:-/tmp/device_check}; mkdir -p "$out"
py=python3; [ -x .venv/bin/python ] && [ "$device" = cpu ] && py=.venv/bin/python
if [ "$device" = cpu ]; then
  dreamer=(--size xs --batch 2 --length 8 --horizon 3 --iters 2 --warmup 1)
  planner=(--size xs --envs 1,2 --horizon 3 --candidates 16 --iterations 2 --elites 4 --iters 1 --warmup 1 --modes eager)
  modes=eager,graph; peer=()
else
  dreamer=(--size s --iters 10 --warmup 3)
  planner=(--size s --envs 1,16)
  modes=eager,compiled,graph; peer=(--peer sheeprl --peer-seconds 240)
fi
{ date -u; uptime; git rev-parse HEAD; } > "$out/env.txt"
$py scripts/bench.py dreamer --device "$device" --preset dreamer_v3_2023 --modes "$modes" "${peer[@]}" "${dreamer[@]}" 2>&1 | tee "$out/dreamer.txt"
$py scripts/bench.py planner --device "$device" "${planner[@]}" 2>&1 | tee "$out/planner.txt"
echo "results in $out"
