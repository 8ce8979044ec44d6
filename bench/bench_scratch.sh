#!/usr/bin/env bash
# ResNet-18 from scratch on PneumoniaMNIST (issue #13's benchmark), beside the
# MedMNIST v2 table (Yang et al., Sci. Data 2023, PneumoniaMNIST test, 624 images):
#
#   ResNet-18 (28)   AUC 0.944  ACC 0.854
#   ResNet-18 (224)  AUC 0.956  ACC 0.864
#   ResNet-50 (224)  AUC 0.962  ACC 0.884
#
# The recipe (pneumo train; every option below is documented in --help):
#   --data pneumoniamnist.npz (28x28, resized to 224 with Pillow's bilinear)
#   --weights none --freeze none      torchvision's random init, everything trains
#   --optimizer sgd --momentum 0.9 --nesterov --weight-decay 5e-4
#   --lr 0.05 --lr-schedule cosine --warmup 2 --epochs $EPOCHS --batch 64
#   --augment crop:0.8-1,rotate:10,translate:0.05   (no flips: the heart is on the left)
#   --select best:val_auc             the saved model is the best validation-AUC epoch
# and prints epochs, wall time, training images/s, the selected epoch and the
# test AUC / ACC (threshold 0.5 = argmax, as MedMNIST's ACC) as a markdown row.
#
# It takes over an hour on a 2-core CPU (3882 training images x EPOCHS full
# forward+backward passes at 224x224: 12 epochs took 80 min at 9.8 images/s on
# a shared AVX-512 EPYC, 2026-12-02; docs/training.md has the result), so `make
# bench` skips it unless BENCH_SCRATCH=1 (`make bench-scratch` sets it).
#   PNEUMO_DATA  data folder (default ../shared/data)  EPOCHS (default 12, the measured run)  THREADS (default all)
#   BF16=1       adds --bf16: bf16 training (AVX512-BF16 CPUs; fp32 with a notice elsewhere)
set -eu
cd "$(dirname "$0")/.."
BIN="${PNEUMO_BIN:-$PWD/build/pneumo}"
PY="${PYTHON:-/usr/bin/python3}"
NPZ="${PNEUMO_DATA:-$(cd .. && pwd)/shared/data}/pneumoniamnist.npz"
EPOCHS="${EPOCHS:-12}"
OUT="${BENCH_OUT:-runs/bench-scratch-$(date +%Y%m%d-%H%M%S)}"
ARGS=(train --data "$NPZ" --weights none --freeze none --seed 0
      --optimizer sgd --momentum 0.9 --nesterov --weight-decay 5e-4
      --lr 0.05 --lr-schedule cosine --warmup 2 --epochs "$EPOCHS" --batch 64
      --augment crop:0.8-1,rotate:10,translate:0.05 --select best:val_auc --out "$OUT")
[ -n "${THREADS:-}" ] && ARGS+=(--threads "$THREADS")
[ "${BF16:-0}" = 1 ] && ARGS+=(--bf16)
if [ "${BENCH_SCRATCH:-0}" != 1 ]; then
    echo "skipped: ResNet-18 from scratch on PneumoniaMNIST takes over an hour (BENCH_SCRATCH=1 or make bench-scratch);"
    echo "it runs: pneumo ${ARGS[*]}"
    exit 0
fi
[ -f "$NPZ" ] || { echo "bench_scratch: $NPZ is missing"; exit 1; }
t0=$(date +%s.%N)
"$BIN" "${ARGS[@]}" | tee "$OUT.log"
t1=$(date +%s.%N)
"$PY" - "$OUT/metrics.json" "$t0" "$t1" "$EPOCHS" <<'PYEOF'
import json, sys
m = json.load(open(sys.argv[1]))
t = float(sys.argv[3]) - float(sys.argv[2])
h = m["history"]
train_s = sum(e["seconds"] for e in h)
n_train = 3882
test = m["final"]["test"]
sel = m.get("selected", {})
print()
print("| model | epochs run | wall time | train images/s | selected epoch | test AUC | test ACC |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
print("| MedMNIST v2: ResNet-18 (28) | | | | | 0.944 | 0.854 |")
print("| MedMNIST v2: ResNet-18 (224) | | | | | 0.956 | 0.864 |")
print("| MedMNIST v2: ResNet-50 (224) | | | | | 0.962 | 0.884 |")
print("| pneumo ResNet-18 (224), from scratch | %d | %.0f min | %.1f | %s | %.3f | %.3f |" % (
    len(h), t / 60, n_train * len(h) / train_s, sel.get("epoch", "last"), test["roc_auc"], test["accuracy"]))
print("(%s)" % sel.get("why", "--select last"))
PYEOF
echo
if [ "${BF16:-0}" = 1 ]; then
    echo "bf16 training (--bf16): see the run's bf16_train setting in $OUT/metrics.json"
else
    echo "fp32 training; BF16=1 runs the same with --bf16 (bf16 training on AVX512-BF16 CPUs);"
    echo "bench/bench_train.sh times bf16 against fp32 and PyTorch's autocast per step"
fi
