#!/usr/bin/env bash
# pneumo fetch throughput, beside reference tools measured in the same run:
#   download  `pneumo fetch weights --url` (libcurl, .part, SHA-256, rename)
#             vs `curl -o` (or Python urllib when curl is absent), same file
#             from the same local server (tests/server/fileserver.py, 127.0.0.1)
#   unpack    `pneumo fetch dataset --from` (checks, extract, rename)
#             vs Python's zipfile.extractall, on a zip of ../shared/data/chest_xray
# Prints a markdown table (MB/s, images/s, ratio). Best of BENCH_REPS (3) runs.
# The local server is Python: the download row measures the client's overhead
# against the same server, not the network. Meaningful only on a quiet machine.
set -eu
cd "$(dirname "$0")/.."
BIN="${PNEUMO_BIN:-$PWD/build/pneumo}"
PY="${PYTHON:-/usr/bin/python3}"
DATA="${PNEUMO_DATA:-$(cd .. && pwd)/shared/data}"
REPS="${BENCH_REPS:-3}"
T=$(mktemp -d /tmp/pneumo-benchfetch-XXXXXX)
SRV=
cleanup() {
    [ -n "$SRV" ] && kill "$SRV" 2>/dev/null && wait "$SRV" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
export HOME=$T/home XDG_CACHE_HOME=$T/xdg no_proxy=127.0.0.1
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
mkdir -p "$T/srv" "$HOME"

nimg=$("$PY" - "$DATA" "$T/srv/data.zip" <<'EOF'
import os, sys, zipfile
data, out = sys.argv[1], sys.argv[2]
n = 0
with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
    for root, _, files in sorted(os.walk(os.path.join(data, "chest_xray"))):
        for f in sorted(files):
            p = os.path.join(root, f)
            z.write(p, os.path.relpath(p, data))
            n += f.endswith(".jpeg")
print(n)
EOF
)
bytes=$(stat -c %s "$T/srv/data.zip")

"$PY" tests/server/fileserver.py --root "$T/srv" --port-file "$T/port" --log /dev/null \
    --max-seconds 600 &
SRV=$!
for _ in $(seq 100); do [ -s "$T/port" ] && break; sleep 0.05; done
URL="http://127.0.0.1:$(cat "$T/port")/data.zip"

best() { # best wall time in seconds of REPS runs of "$@" (after `prep`)
    local b=
    for _ in $(seq "$REPS"); do
        prep
        local t0 t1
        t0=$(date +%s.%N)
        "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }
        t1=$(date +%s.%N)
        b=$(echo "$t0 $t1 ${b:-1e9}" | awk '{d=$2-$1; print (d<$3)?d:$3}')
    done
    echo "$b"
}

prep() { rm -rf "$T/dl"; mkdir -p "$T/dl"; }
t_pn_dl=$(best "$BIN" fetch weights --url "$URL" --sha256-prefix "" --to "$T/dl" -q --retries 0)
if command -v curl >/dev/null; then
    ref_dl="curl -o"
    t_ref_dl=$(best curl -sS --noproxy '*' -o "$T/dl/x" "$URL")
else
    ref_dl="python urllib"
    t_ref_dl=$(best "$PY" -c "import sys,urllib.request;urllib.request.urlretrieve(sys.argv[1],sys.argv[2])" "$URL" "$T/dl/x")
fi

prep() { rm -rf "$T/un"; mkdir -p "$T/un"; }
t_pn_un=$(best "$BIN" fetch dataset --from "$T/srv/data.zip" --to "$T/un" -q)
t_ref_un=$(best "$PY" -c "import sys,zipfile;zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])" "$T/srv/data.zip" "$T/un")

awk -v b="$bytes" -v n="$nimg" -v a="$t_pn_dl" -v ra="$t_ref_dl" -v u="$t_pn_un" -v ru="$t_ref_un" \
    -v refdl="$ref_dl" 'BEGIN {
    mb = b / 1048576
    printf "fetch: %.1f MiB zip, %d images, best of '"$REPS"'\n\n", mb, n
    printf "| step | pneumo | reference | pneumo / reference |\n"
    printf "| --- | ---: | ---: | ---: |\n"
    printf "| download (local server) | %.0f MiB/s | %.0f MiB/s (%s) | %.2f |\n", mb / a, mb / ra, refdl, ra / a
    printf "| unpack | %.0f images/s (%.0f MiB/s) | %.0f images/s (python zipfile) | %.2f |\n", n / u, mb / u, n / ru, ru / u
}'
