#!/usr/bin/env bash
# pneumo bench: --help, bad options (usage error, exit 2), and tiny runs
# whose --json output parses and has the expected workloads.
set -u
BIN="${PNEUMO_BIN:-build/pneumo}"
PY="${PYTHON:-/usr/bin/python3}"
fail() { echo "FAIL: $*"; exit 1; }
"$BIN" bench --help | grep -q -- '--threads' || fail "--help"
"$BIN" bench --batch 0 2>/dev/null; [ $? -eq 2 ] || fail "--batch 0 should be a usage error"
"$BIN" bench --dtype f16 2>/dev/null; [ $? -eq 2 ] || fail "--dtype f16 should be a usage error"
"$BIN" bench extra 2>/dev/null; [ $? -eq 2 ] || fail "a stray argument should be a usage error"
out=$("$BIN" bench --json --size 64 --batch 2 --iters 1 --threads 1 --no-train) || fail "bench run"
echo "$out"
echo "$out" | "$PY" -c '
import json, sys
j = json.load(sys.stdin)
r = j["results"]
assert [x["dtype"].split("->")[0] for x in r] == ["fp32", "bf16"], r
assert all(x["threads"] == 1 and x["img_per_s"] > 0 and x["cpu_s_per_img"] > 0 for x in r), r
assert j["peak_rss_mb"] >= j["peak_rss_forward_mb"] > 0 and j["batch"] == 2 and j["size"] == 64
' || fail "json"
# with the training engine built in: one training step row per freeze level
out=$("$BIN" bench --json --size 32 --batch 2 --iters 1 --threads 1 --dtype fp32) || fail "bench run"
echo "$out"
echo "$out" | "$PY" -c '
import json, sys
r = json.load(sys.stdin)["results"]
t = [x["freeze"] for x in r if x["workload"] == "train_step"]
assert t == ["fc", "layer4", "layer3", "none"], t
' || fail "training rows"
# int8 (calibrated on the synthetic input) and Winograd (->fp32 where oneDNN has none)
out=$("$BIN" bench --json --size 64 --batch 2 --iters 1 --threads 1 --no-train --dtype int8,winograd) \
    || fail "bench int8"
echo "$out"
echo "$out" | "$PY" -c '
import json, sys
r = json.load(sys.stdin)["results"]
assert [x["dtype"].split("->")[0] for x in r] == ["int8", "winograd"], r
assert all(x["img_per_s"] > 0 and x["busy"] == 0 for x in r), r
' || fail "int8/winograd rows"
# a busy neighbour: the 2-thread fp32 forward beside a spinning process, both schedules
out=$("$BIN" bench --json --size 64 --batch 8 --iters 1 --threads 2 --no-train --dtype fp32 --busy 20) \
    || fail "bench --busy"
echo "$out"
echo "$out" | "$PY" -c '
import json, sys
r = json.load(sys.stdin)["results"]
assert [(x["busy"], x["schedule"]) for x in r] == [(0, "dynamic"), (1, "static"), (1, "dynamic")], r
assert all(x["threads"] == 2 and x["img_per_s"] > 0 for x in r), r
' || fail "busy rows"
"$BIN" bench --busy 0 2>/dev/null; [ $? -eq 2 ] || fail "--busy 0 should be a usage error"
echo "ok"
