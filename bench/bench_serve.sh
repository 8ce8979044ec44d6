#!/usr/bin/env bash
# pneumo serve: requests/s and p50/p99 latency at 1, 8 and 32 concurrent
# clients (a small python3 client, keep-alive, 127.0.0.1 only, SERVE_SECONDS
# per level, default 8), beside 'pneumo predict' on the same images (whole
# process, and per image), and the server's peak memory. The machine is
# shared: expect noise.
set -eu
cd "$(dirname "$0")/.."
BIN=${PNEUMO_BIN:-$PWD/build/pneumo}
PY=${PYTHON:-/usr/bin/python3}
DATA=${PNEUMO_DATA:-../shared/data}/chest_xray
SECS=${SERVE_SECONDS:-8}
tmp=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
"$PY" - "$tmp" <<'PYEOF'
import sys, torch, torchvision
torch.manual_seed(0)
torch.save(torchvision.models.resnet18(num_classes=2).state_dict(), sys.argv[1] + "/r18_2.pth")
PYEOF
ls "$DATA"/test/*/*.jpeg >"$tmp/images.txt"
n=$(wc -l <"$tmp/images.txt")

# predict on the same images: one process, and one process per image (start-up included)
s=$(date +%s.%N)
xargs "$BIN" predict --model "$tmp/r18_2.pth" <"$tmp/images.txt" >/dev/null
e=$(date +%s.%N)
predict_ips=$(echo "$n / ($e - $s)" | bc -l)
s=$(date +%s.%N)
"$BIN" predict --model "$tmp/r18_2.pth" "$(head -1 "$tmp/images.txt")" >/dev/null
e=$(date +%s.%N)
single_ms=$(echo "($e - $s) * 1000" | bc -l)

"$BIN" serve --model "$tmp/r18_2.pth" --port 0 --port-file "$tmp/port" >"$tmp/serve.log" 2>&1 &
pid=$!
for _ in $(seq 1 300); do [ -s "$tmp/port" ] && break; sleep 0.1; done
[ -s "$tmp/port" ] || { cat "$tmp/serve.log"; exit 1; }
printf "%-40s %10s %10s %10s\n" "pneumo serve ($n images, ${SECS}s a level)" "req/s" "p50 ms" "p99 ms"
"$PY" - "$(cat "$tmp/port")" "$tmp/images.txt" "$SECS" <<'PYEOF'
import http.client, sys, threading, time
port, images, secs = int(sys.argv[1]), open(sys.argv[2]).read().split(), float(sys.argv[3])
bodies = [open(f, "rb").read() for f in images]
for clients in (1, 8, 32):
    lat, errors, stop = [], [0], time.time() + secs
    def run(k):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        i = k
        while time.time() < stop:
            t = time.perf_counter()
            c.request("POST", "/v1/predict", body=bodies[i % len(bodies)], headers={"Content-Type": "image/jpeg"})
            r = c.getresponse(); r.read()
            if r.status != 200:
                errors[0] += 1
            lat.append(time.perf_counter() - t)
            i += clients
        c.close()
    t0 = time.time()
    ts = [threading.Thread(target=run, args=(k,)) for k in range(clients)]
    [t.start() for t in ts]; [t.join() for t in ts]
    wall = time.time() - t0
    lat.sort()
    pct = lambda q: 1000 * lat[min(len(lat) - 1, int(q * len(lat)))]
    print("%-40s %10.1f %10.1f %10.1f%s" % ("%d client%s" % (clients, "" if clients == 1 else "s"),
          len(lat) / wall, pct(0.5), pct(0.99), "  (%d errors)" % errors[0] if errors[0] else ""))
PYEOF
hwm=$(awk '/VmHWM/ {print $2}' /proc/"$pid"/status)
printf "%-40s %10.1f images/s\n" "pneumo predict (one process, all images)" "$predict_ips"
printf "%-40s %10.0f ms (process start to answer)\n" "pneumo predict (one image)" "$single_ms"
printf "%-40s %10.0f MiB\n" "serve peak RSS" "$((hwm / 1024))"
kill -TERM "$pid"; wait "$pid"; pid=
