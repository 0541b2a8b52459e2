#!/bin/bash
# The GPU recipe in one call, sized to a fixed time slot (e.g. a lent accelerator's few minutes):
#   1. time the `default` preset's training step (benchmarks/throughput.py, kept as throughput.json);
#   2. train with --steps set so that the learning-rate schedule ends inside the slot (--time-limit stays
#      as a backstop: it stops wherever the run has got to);
#   3. drop the optimizer state (never shipped) and, if asked, split the weights into parts under a size
#      limit for transport (join them with `cat model.safetensors.part* > model.safetensors`; config.json
#      holds the SHA-256 to check against).
#
#   bash benchmarks/gpu_recipe.sh OUT_DIR [SLOT_SECONDS] [SPLIT_BYTES]
#   CONFIG=benchmarks/configs/gpu_roughness.json bash benchmarks/gpu_recipe.sh OUT_DIR   # a TrainConfig JSON instead
#
# PRESET (default: default) names the preset that is timed and trained; CONFIG, a JSON file of TrainConfig fields
# (it may name a "preset"), replaces it for training, so a variant of the recipe (read_roughness, another prior)
# runs in the same slot. DEVICE defaults to cuda.
#
# Run from the repository root, with curvecast installed. Measured on one H100 (2026-11-27): 4.8 steps/s in
# the throughput benchmark, 7.5 steps/s in training (batch 256); see BENCHMARKS.md, "The GPU recipe".
set -u
OUT=${1:?usage: gpu_recipe.sh OUT_DIR [SLOT_SECONDS] [SPLIT_BYTES]}
SLOT=${2:-560}
SPLIT=${3:-}
DEVICE=${DEVICE:-cuda}
PRESET=${PRESET:-default}
CONFIG=${CONFIG:-}
if [ -n "$CONFIG" ]; then
    CONFIG=$(cd "$(dirname "$CONFIG")" && pwd)/$(basename "$CONFIG")  # training runs from /tmp
    SPEC=(--config "$CONFIG")
else
    SPEC=(--preset "$PRESET")
fi
export PYTHONUNBUFFERED=1
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
SECONDS=0
timeout 120 python3 benchmarks/throughput.py --device "$DEVICE" --preset "$PRESET" --steps 30 --prior-tasks 100000 --json > "$OUT/throughput.json"
echo "throughput (exit $?) after ${SECONDS}s: $(cat "$OUT/throughput.json")"
RATE=$(python3 -c "import json; print(json.load(open('$OUT/throughput.json'))['train_steps_per_s'])" 2>/dev/null || echo 1)
LIMIT=$(python3 -c "print(int(min(480, $SLOT - $SECONDS - 40)))")
# The timed steps exclude evaluation and checkpoints: aim at 88% of the slot left after 30 s of set-up.
STEPS=$(python3 -c "print(max(10, int($RATE * ($LIMIT - 30) * 0.88)))")
echo "training $STEPS steps, time limit ${LIMIT}s"
# Run from elsewhere: the repository root's curvecast/ folder would shadow the installed package.
(cd /tmp && python3 -m curvecast train "${SPEC[@]}" --device "$DEVICE" --time-limit "$LIMIT" --steps "$STEPS" --out "$OUT/run" --no-progress) > "$OUT/train.log" 2>&1
echo "train (exit $?) after ${SECONDS}s"; tail -c 2000 "$OUT/train.log"
rm -f "$OUT"/run/state*.safetensors
if [ -n "$SPLIT" ]; then
    (cd "$OUT/run" && split -b "$SPLIT" -d model.safetensors model.safetensors.part && rm model.safetensors && sha256sum model.safetensors.part*)
fi
