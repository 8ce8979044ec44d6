#!/usr/bin/env bash
# pneumo inspect / export: output, exit codes and error messages.
set -u
BIN=${PNEUMO_BIN:-build/pneumo}
F=tests/fixtures
fail() { echo "FAIL: $*"; exit 1; }
out=$("$BIN" inspect "$F/weights_small_f16.pth") || fail "inspect f16"
echo "$out" | grep -q "pth (zip), 8 tensors, 135 values" || fail "inspect summary: $out"
echo "$out" | grep -Eq "conv1.weight +float16 +\[4, 3, 3, 3\]" || fail "inspect tensor line"
echo "$out" | grep -q "ResNet-18: no: .*missing" || fail "inspect resnet check"
out=$("$BIN" inspect -q "$F/weights_small_legacy.pth") || fail "inspect legacy"
echo "$out" | grep -q "pth (legacy), 8 tensors" || fail "legacy summary: $out"
echo "$out" | grep -Eq "^  conv1.weight +float32" && fail "-q still lists tensors"
err=$("$BIN" inspect "$F/weights_bad_global.pth" 2>&1 >/dev/null); rc=$?
[ $rc -eq 1 ] || fail "bad file exit $rc"
echo "$err" | grep -q "weights_bad_global.pth: pickle at byte [0-9]*: forbidden global 'posix.system'" || fail "message: $err"
"$BIN" inspect >/dev/null 2>&1; [ $? -eq 2 ] || fail "usage error exit"
"$BIN" export --model "$F/weights_small_zip.pth" -o /tmp/x.pth --format zip >/dev/null 2>&1; [ $? -eq 2 ] || fail "bad --format"
"$BIN" export --help | grep -q "weights_only=True" || fail "export --help"
echo "weights CLI checks passed"
