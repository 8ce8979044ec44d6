#!/usr/bin/env bash
# pneumo fetch (the CLI) against the local test server on 127.0.0.1: exit
# codes, the path on stdout, one-line reasons on stderr, progress lines, and
# byte-identical results. Bounded: every command runs under `timeout`.
set -u
cd "$(dirname "$0")/.."
BIN=${PNEUMO_BIN:-$PWD/build/pneumo}
PY=${PYTHON:-/usr/bin/python3}
DATA=${PNEUMO_DATA:-$(cd .. && pwd)/shared/data}
[ -d "$DATA/chest_xray" ] || { echo "FAIL: no data in $DATA"; exit 1; }
T=$(mktemp -d /tmp/pneumo-fetchcli-XXXXXX)
SRV_PID=
cleanup() {
    [ -n "$SRV_PID" ] && kill "$SRV_PID" 2>/dev/null && wait "$SRV_PID" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }

# the environment fetch reads, all inside $T
unset KAGGLE_USERNAME KAGGLE_KEY KAGGLE_CONFIG_DIR KAGGLEHUB_CACHE TORCH_HOME PNEUMO_KAGGLE_URL \
      PNEUMO_WEIGHTS_URL http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
export HOME=$T/home XDG_CACHE_HOME=$T/xdg no_proxy=127.0.0.1
mkdir -p "$HOME" "$XDG_CACHE_HOME" "$T/srv"

# served files: a small zip of one image per split/class, a fake .pth
"$PY" - "$DATA/chest_xray" "$T/srv" <<'EOF' || { echo "FAIL: cannot build the test files"; exit 1; }
import os, sys, zipfile
src, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(os.path.join(out, "data.zip"), "w", zipfile.ZIP_DEFLATED) as z:
    for split in ("train", "val", "test"):
        for cls in ("NORMAL", "PNEUMONIA"):
            d = os.path.join(src, split, cls)
            name = min(os.listdir(d), key=lambda f: os.path.getsize(os.path.join(d, f)))
            z.write(os.path.join(d, name), "chest_xray/%s/%s/%s" % (split, cls, name))
with zipfile.ZipFile(os.path.join(out, "evil.zip"), "w") as z:
    z.writestr("chest_xray/train/NORMAL/a.jpeg", b"a")
    z.writestr("chest_xray/../../evil.txt", b"x")
open(os.path.join(out, "corrupt.zip"), "wb").write(b"PK\x03\x04" + b"\x00" * 100)
open(os.path.join(out, "w.pth"), "wb").write(bytes(range(256)) * 1200)
EOF

"$PY" tests/server/fileserver.py --root "$T/srv" --port-file "$T/port" --log "$T/log" \
    --max-seconds 120 &
SRV_PID=$!
for _ in $(seq 100); do [ -s "$T/port" ] && break; sleep 0.05; done
[ -s "$T/port" ] || { echo "FAIL: the test server did not start"; exit 1; }
P=$(cat "$T/port")
U=http://127.0.0.1:$P
PREFIX=$(sha256sum "$T/srv/w.pth" | cut -c1-8)
FAST="--retries 0 --stall-timeout 1 --connect-timeout 5 -q"

run() { # run EXPECTED_EXIT NAME args...: stdout to $T/out, stderr to $T/err
    local want=$1 name=$2
    shift 2
    timeout 30 "$BIN" "$@" >"$T/out" 2>"$T/err"
    local rc=$?
    if [ $rc -ne "$want" ]; then
        fail "$name: exit $rc, wanted $want; stderr: $(cat "$T/err")"
        return 1
    fi
    return 0
}
one_line_with() { # NAME TEXT: stderr is one line holding TEXT
    local n
    n=$(wc -l <"$T/err")
    if [ "$n" -ne 1 ]; then fail "$1: $n lines on stderr: $(cat "$T/err")"; return; fi
    if ! grep -qF -- "$2" "$T/err"; then fail "$1: stderr lacks '$2': $(cat "$T/err")"; return; fi
    ok "$1"
}

run 0 help fetch --help && grep -q "pneumo fetch dataset" "$T/out" && ok help
run 2 "no item" fetch && ok "no item"
run 2 "bad item" fetch bogus && ok "bad item"
run 2 "bad retries" fetch weights --retries lots && ok "bad retries"

# weights: full download with the test prefix, path on stdout, progress lines
if run 0 weights fetch weights --url "$U/w.pth" --sha256-prefix "$PREFIX" --to "$T/w" --retries 0; then
    [ "$(cat "$T/out")" = "$T/w/resnet18-f37072fd.pth" ] || fail "weights: stdout $(cat "$T/out")"
    cmp -s "$T/w/resnet18-f37072fd.pth" "$T/srv/w.pth" || fail "weights: bytes differ"
    grep -q "resnet18-f37072fd.pth: 300.0 KiB / 300.0 KiB (100%)" "$T/err" ||
        fail "weights: no progress line: $(cat "$T/err")"
    ok weights
fi
# bad checksum: one line, nothing left behind
run 1 checksum fetch weights --url "$U/w.pth" --sha256-prefix 0123abcd --to "$T/w2" $FAST &&
    one_line_with checksum "bad checksum"
[ -z "$(ls -A "$T/w2" 2>/dev/null)" ] || fail "checksum: left $(ls -A "$T/w2")"
run 1 404 fetch weights --url "$U/nope.pth" --to "$T/w3" $FAST && one_line_with 404 "HTTP 404"
run 1 stall fetch weights --url "$U/stall=100/w.pth" --to "$T/w4" $FAST &&
    one_line_with stall "timed out"
run 1 "no network" fetch weights --url "http://127.0.0.1:1/w.pth" --to "$T/w5" $FAST &&
    one_line_with "no network" "--weights FILE"

# data set from the "Kaggle" URL, into the default cache
if run 0 dataset fetch dataset --url "$U/data.zip" -q; then
    D=$XDG_CACHE_HOME/pneumo/datasets/chest-xray-pneumonia
    [ "$(cat "$T/out")" = "$D" ] || fail "dataset: stdout $(cat "$T/out")"
    n=0
    while read -r f; do
        rel=${f#"$D"/}
        cmp -s "$f" "$DATA/chest_xray/$rel" || fail "dataset: $rel differs"
        n=$((n + 1))
    done < <(find "$D" -type f)
    [ $n -eq 6 ] && ok "dataset ($n images)" || fail "dataset: $n files"
fi
run 1 401 fetch dataset --url "$U/auth=u:k/data.zip" --to "$T/d1" $FAST &&
    one_line_with 401 "KAGGLE_USERNAME"
run 0 "from zip" fetch dataset --from "$T/srv/data.zip" --to "$T/d2" -q &&
    [ -d "$T/d2/chest-xray-pneumonia/train/PNEUMONIA" ] && ok "from zip"
run 1 "../ entry" fetch dataset --from "$T/srv/evil.zip" --to "$T/d3" -q &&
    one_line_with "../ entry" "escapes"
[ -e "$T/evil.txt" ] || [ -e "$T/srv/evil.txt" ] && fail "../ entry: file written outside"
[ -z "$(ls -A "$T/d3" 2>/dev/null)" ] || fail "../ entry: left $(ls -A "$T/d3")"
run 1 "corrupt zip" fetch dataset --from "$T/srv/corrupt.zip" --to "$T/d4" -q &&
    one_line_with "corrupt zip" "corrupt.zip"

echo "$fails failure(s)"
[ $fails -eq 0 ]
