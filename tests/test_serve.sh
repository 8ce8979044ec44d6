#!/usr/bin/env bash
# pneumo serve on 127.0.0.1 with a random-weights 2-class ResNet-18 made by
# PyTorch: probabilities equal 'pneumo predict --json' (one request at a time
# and batched from concurrent clients), raw and multipart uploads, the CAM,
# /v1/model and /healthz, the JSON errors (404, 405, 415, 400 non-image /
# truncated / empty / truncated multipart, 413 by Content-Length, by a
# chunked body and over --max-pixels, 503 on a full queue), a slow client cut
# off, 1,000 stalled connections, memory bounded, and SIGTERM finishing the
# requests in flight (a request after it: 503). Every client call has a timeout.
set -eu
PY=${PYTHON:-/usr/bin/python3}
BIN=${PNEUMO_BIN:-build/pneumo}
DATA=${PNEUMO_DATA:-../shared/data}/chest_xray
tmp=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; for f in "$tmp"/*.log; do echo "== $f"; cat "$f"; done; exit 1; }

"$PY" - "$tmp" <<'PYEOF'
import sys, torch, torchvision
torch.manual_seed(0)
torch.save(torchvision.models.resnet18(num_classes=2).state_dict(), sys.argv[1] + "/r18_2.pth")
PYEOF
M="$tmp/r18_2.pth"

# start NAME ARGS...: a server on a free port; sets PORT and PID
start() {
    local name=$1; shift
    rm -f "$tmp/$name.port"
    "$BIN" serve --model "$M" --port 0 --port-file "$tmp/$name.port" "$@" >"$tmp/$name.log" 2>&1 &
    PID=$!
    pids+=("$PID")
    for _ in $(seq 1 300); do
        [ -s "$tmp/$name.port" ] && break
        kill -0 "$PID" 2>/dev/null || fail "$name: server exited"
        sleep 0.1
    done
    [ -s "$tmp/$name.port" ] || fail "$name: no port after 30 s"
    PORT=$(cat "$tmp/$name.port")
}

imgs=$(ls "$DATA"/test/NORMAL/*.jpeg | head -4; ls "$DATA"/test/PNEUMONIA/*.jpeg | head -3)
# shellcheck disable=SC2086
"$BIN" predict --json --model "$M" $imgs >"$tmp/predict.jsonl" || fail "predict"
head -c 20000 "$(echo "$imgs" | head -1)" >"$tmp/trunc.jpeg"
# DICOMs, one of each transfer syntax of the shared set, and their references
DCM=$DATA/../chest_xray_dicom
awk -F'\t' -v d="$DCM" 'NR > 1 && !seen[$16]++ { print d "/" $1 }' "$DCM/MANIFEST.tsv" >"$tmp/dicoms.txt"
[ "$(wc -l <"$tmp/dicoms.txt")" -ge 7 ] || fail "fewer than 7 transfer syntaxes in $DCM/MANIFEST.tsv"
# shellcheck disable=SC2046
"$BIN" predict --json --model "$M" $(cat "$tmp/dicoms.txt") >"$tmp/predict_dcm.jsonl" || fail "predict DICOM"
printf 'not an image at all' >"$tmp/text.jpeg"

# --- server A: the API and parity -------------------------------------------------
start a --max-batch 4 --max-wait-ms 30
grep -q "^pneumo serve: http://127.0.0.1:$PORT/" "$tmp/a.log" || fail "banner"
"$PY" - "$PORT" "$tmp" "$M" "$DCM" <<'PYEOF' || fail "server A checks"
import base64, hashlib, http.client, json, socket, sys, threading, time
port, tmp, model, dcm = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
ref = [json.loads(l) for l in open(tmp + "/predict.jsonl")]
def req(method, path, body=None, headers=None, timeout=60):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, r.getheader("Content-Type"), data
def check(cond, msg):
    if not cond:
        print("FAIL:", msg); sys.exit(1)
def err_of(st, ct, data, want, words):
    check(st == want, "status %d, want %d: %r" % (st, want, data[:300]))
    check(ct == "application/json", "error Content-Type %s" % ct)
    o = json.loads(data)
    check(o["status"] == want and all(w in o["error"] for w in words), "error %r lacks %r" % (o, words))

st, ct, data = req("GET", "/healthz"); check(st == 200 and json.loads(data)["status"] == "ok", "healthz")
st, ct, data = req("GET", "/v1/model")
m = json.loads(data)
check(st == 200 and m["sha256"] == hashlib.sha256(open(model, "rb").read()).hexdigest(), "model sha256")
check(m["classes"] == ["NORMAL", "PNEUMONIA"] and m["threshold"] == 0.5 and m["name"] == "r18_2.pth", m)
st, ct, data = req("GET", "/")
check(st == 200 and ct.startswith("text/html") and b"/v1/predict" in data, "index page")

# one at a time: the same numbers as pneumo predict --json
for r in ref:
    body = open(r["file"], "rb").read()
    st, ct, data = req("POST", "/v1/predict", body, {"Content-Type": "image/jpeg"})
    o = json.loads(data)
    check(st == 200, data)
    check(o["probabilities"] == r["probs"], "%s: %r != %r" % (r["file"], o["probabilities"], r["probs"]))
    check(o["label"] == r["label"] and o["classes"] == ["NORMAL", "PNEUMONIA"], o)
    check(o["model"]["sha256"] == m["sha256"] and o["threshold"] == 0.5, o)
    check("cam" not in o, "cam without ?cam=1")

# DICOM bodies (application/dicom, or octet-stream: by content), one per
# transfer syntax: the numbers of pneumo predict --json on the file; ?image=1
# sends the rendering back: Pillow's resize of the expected PNG to <= 512 px
import io
from PIL import Image
for r in [json.loads(l) for l in open(tmp + "/predict_dcm.jsonl")]:
    body = open(r["file"], "rb").read()
    st, ct, data = req("POST", "/v1/predict?cam=1&image=1", body, {"Content-Type": "application/dicom"})
    check(st == 200, "%s: %r" % (r["file"], data[:300]))
    o = json.loads(data)
    check(o["probabilities"] == r["probs"] and o["label"] == r["label"], "%s: %r != %r" % (r["file"], o["probabilities"], r["probs"]))
    im = Image.open(io.BytesIO(base64.b64decode(o["image"]["png_base64"])))
    rel = r["file"][len(dcm) + 1:]
    exp = Image.open(dcm + "/expected/" + rel[:-4] + ".png")
    check(im.size == (o["image_width"], o["image_height"]) if max(exp.size) <= 512 else max(im.size) == 512, "image size %r" % (im.size,))
    check((o["cam"]["width"], o["cam"]["height"]) == im.size, "cam and image sizes differ")
    want = exp.convert("L").resize(im.size, Image.BILINEAR) if im.size != exp.size else exp.convert("L")
    check(im.mode == "L" and im.tobytes() == want.tobytes(), "%s: ?image=1 != Pillow's resize of the expected PNG" % rel)
    st2, _, data2 = req("POST", "/v1/predict", body, {"Content-Type": "application/octet-stream"})
    check(st2 == 200 and json.loads(data2)["probabilities"] == r["probs"] and "image" not in json.loads(data2), "octet-stream DICOM")
print("DICOM uploads (%d transfer syntaxes) == pneumo predict; ?image=1 == Pillow" % len(open(tmp + "/dicoms.txt").read().split()))
bad = dcm + "_bad"
err_of(*req("POST", "/v1/predict", open(bad + "/missing_pixeldata.dcm", "rb").read(), {"Content-Type": "application/dicom"}),
       400, ["Pixel Data"])
err_of(*req("POST", "/v1/predict", open(bad + "/multiframe.dcm", "rb").read(), {"Content-Type": "application/dicom"}),
       400, ["multi-frame"])

# concurrent clients: batched together, still the same numbers
out = [None] * (2 * len(ref))
def worker(i):
    r = ref[i % len(ref)]
    out[i] = req("POST", "/v1/predict", open(r["file"], "rb").read(), {"Content-Type": "application/octet-stream"})
ts = [threading.Thread(target=worker, args=(i,)) for i in range(len(out))]
[t.start() for t in ts]; [t.join(120) for t in ts]
batches = set()
for i, (st, ct, data) in enumerate(out):
    o = json.loads(data)
    check(st == 200, data)
    check(o["probabilities"] == ref[i % len(ref)]["probs"], "batched %d: %r" % (i, o))
    batches.add(o["batch_size"])
check(max(batches) > 1, "concurrent requests never batched: %r" % batches)
print("batch sizes seen:", sorted(batches))

# multipart/form-data with the CAM
r = ref[-1]
bd = "----pneumoTestBoundary7"
body = (("--%s\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n" % bd).encode() +
        ("--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.jpeg\"\r\n"
         "Content-Type: image/jpeg\r\n\r\n" % bd).encode() + open(r["file"], "rb").read() +
        ("\r\n--%s--\r\n" % bd).encode())
st, ct, data = req("POST", "/v1/predict?cam=1", body, {"Content-Type": "multipart/form-data; boundary=" + bd})
o = json.loads(data)
check(st == 200 and o["probabilities"] == r["probs"], data[:300])
png = base64.b64decode(o["cam"]["png_base64"])
check(png[:8] == b"\x89PNG\r\n\x1a\n" and max(o["cam"]["width"], o["cam"]["height"]) <= 512, "cam png")
check(o["cam"]["class"] == o["label"], "cam class")
err_of(*req("POST", "/v1/predict", body[:len(body) // 2], {"Content-Type": "multipart/form-data; boundary=" + bd}),
       400, ["multipart", "truncated"])

# errors
err_of(*req("GET", "/nope"), 404, ["/nope"])
err_of(*req("GET", "/v1/predict"), 405, ["POST"])
err_of(*req("POST", "/v1/predict", b"abc", {"Content-Type": "text/plain"}), 415, ["text/plain"])
err_of(*req("POST", "/v1/predict", open(tmp + "/text.jpeg", "rb").read(), {"Content-Type": "image/jpeg"}), 400, ["not a JPEG or PNG"])
err_of(*req("POST", "/v1/predict", open(tmp + "/trunc.jpeg", "rb").read(), {"Content-Type": "image/jpeg"}), 400, ["truncated"])
err_of(*req("POST", "/v1/predict", b"", {"Content-Type": "image/png"}), 400, ["empty"])
# 413 from the header alone: a 1 GB Content-Length, nothing sent
c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
c.putrequest("POST", "/v1/predict"); c.putheader("Content-Type", "image/jpeg")
c.putheader("Content-Length", str(1 << 30)); c.endheaders()
r1 = c.getresponse(); d1 = r1.read(); c.close()
err_of(r1.status, r1.getheader("Content-Type"), d1, 413, ["limit"])
# 413 for a chunked body that grows past the limit (33 MiB of zeros)
def chunks():
    for _ in range(33):
        yield b"\0" * (1 << 20)
try:
    st, ct, data = req("POST", "/v1/predict", chunks(), {"Content-Type": "image/jpeg", "Transfer-Encoding": "chunked"})
    err_of(st, ct, data, 413, ["limit"])
except (ConnectionError, BrokenPipeError):
    pass  # answered while we were still sending: the socket closed under us
# 1,000 connections that send part of a request and stall: the others are still answered
import resource
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
if soft < 1100 and hard >= 1100:
    resource.setrlimit(resource.RLIMIT_NOFILE, (1100, hard))
socks = []
for i in range(1000):
    k = socket.create_connection(("127.0.0.1", port), timeout=10)
    k.sendall(b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: 100\r\n\r\nab")
    socks.append(k)
t0 = time.time()
st, ct, data = req("POST", "/v1/predict", open(ref[0]["file"], "rb").read(), {"Content-Type": "image/jpeg"}, timeout=20)
check(st == 200 and json.loads(data)["probabilities"] == ref[0]["probs"], "beside 1000 stalled connections")
print("answered beside 1000 stalled connections in %.2f s" % (time.time() - t0))
for k in socks:
    k.close()
st, ct, data = req("GET", "/healthz"); check(st == 200, "server down after bad input")
# the server sees the 1,000 clients go (bounded): nothing is in flight before the SIGTERM below,
# which then has nothing to wait for (a slow machine notices the closes late, not never)
# (/healthz counts itself: 1 is nothing else)
t0 = time.time()
while json.loads(data)["in_flight"] > 1 and time.time() - t0 < 60:
    time.sleep(0.2)
    st, ct, data = req("GET", "/healthz")
check(json.loads(data)["in_flight"] == 1, "closed clients still in flight after 60 s: %s" % data)
print("the closed connections left in %.2f s" % (time.time() - t0))
print("server A ok")
PYEOF
hwm=$(awk '/VmHWM/ {print $2}' /proc/"$PID"/status)
echo "server A peak RSS: $((hwm / 1024)) MiB"
[ "$hwm" -lt $((1536 * 1024)) ] || fail "server A peak memory $hwm kB"
kill -TERM "$PID"
for _ in $(seq 1 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$PID" 2>/dev/null && fail "server A still running 10 s after SIGTERM"
wait "$PID" || fail "server A exit status after SIGTERM"
grep -q "stopped" "$tmp/a.log" || fail "no stop line"

# --- server B: the pixel limit and a slow client (cut off) ---------------------------
"$PY" - "$tmp/big.png" <<'PYEOF'
import struct, sys, zlib
def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
w = h = 3000
raw = b"".join(b"\0" + bytes(w) for _ in range(h))
open(sys.argv[1], "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)) +
                              chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
PYEOF
start b --timeout 2 --max-pixels 8000000
"$PY" - "$PORT" "$tmp" <<'PYEOF' || fail "server B checks"
import http.client, json, socket, sys, threading, time
port, tmp = int(sys.argv[1]), sys.argv[2]
ref = [json.loads(l) for l in open(tmp + "/predict.jsonl")]
def check(cond, msg):
    if not cond:
        print("FAIL:", msg); sys.exit(1)
def req(body):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request("POST", "/v1/predict", body=body, headers={"Content-Type": "image/jpeg"})
    r = c.getresponse(); d = r.read(); c.close()
    return r.status, json.loads(d)
# an image over --max-pixels: 413 naming the size, from the header
st, o = req(open(tmp + "/big.png", "rb").read())
check(st == 413 and "3000x3000 = 9000000 pixels, over the limit of 8000000" in o["error"], "pixel limit: %d %r" % (st, o))
# slow client: headers, then one byte every 0.5 s; cut off after --timeout 2 s
s = socket.create_connection(("127.0.0.1", port), timeout=10)
s.sendall(b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: 1000\r\n\r\n")
t0 = time.time(); cut = False
st, o = req(open(ref[0]["file"], "rb").read())   # others are still answered meanwhile
check(st == 200 and o["probabilities"] == ref[0]["probs"], "request beside a slow client: %d %r" % (st, o))
while time.time() - t0 < 8:
    try:
        s.sendall(b"\xff")
        s.settimeout(0.5)
        got = s.recv(4096)
        if got == b"" or got.startswith(b"HTTP/1.1 408"):
            cut = True; break
    except socket.timeout:
        pass
    except (ConnectionError, BrokenPipeError):
        cut = True; break
check(cut and time.time() - t0 < 8, "slow client not cut off")
print("slow client cut off after %.1f s" % (time.time() - t0))
PYEOF
kill -TERM "$PID"; wait "$PID" || fail "server B exit status"

# --- server D: a full queue (503) -------------------------------------------------
start d --max-batch 1 --max-queue 1 --max-wait-ms 0 -j 1
"$PY" - "$PORT" "$tmp" <<'PYEOF' || fail "server D checks"
import http.client, json, sys, threading
port, tmp = int(sys.argv[1]), sys.argv[2]
ref = [json.loads(l) for l in open(tmp + "/predict.jsonl")]
def check(cond, msg):
    if not cond:
        print("FAIL:", msg); sys.exit(1)
def req(body):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request("POST", "/v1/predict", body=body, headers={"Content-Type": "image/jpeg"})
    r = c.getresponse(); d = r.read(); c.close()
    return r.status, json.loads(d)
# a burst on a queue of 1: some get 503 with a JSON error, the others answers
body = open(ref[1]["file"], "rb").read()
res = [None] * 24
def w(i): res[i] = req(body)
ts = [threading.Thread(target=w, args=(i,)) for i in range(len(res))]
[t.start() for t in ts]; [t.join(120) for t in ts]
codes = [r[0] for r in res]
check(503 in codes and 200 in codes and set(codes) <= {200, 503}, "burst codes %r" % codes)
for st, o in res:
    if st == 503: check("queue" in o["error"] and o["status"] == 503, o)
    else: check(o["probabilities"] == ref[1]["probs"], o)
print("burst: %d x 200, %d x 503" % (codes.count(200), codes.count(503)))
PYEOF
kill -TERM "$PID"; wait "$PID" || fail "server D exit status"

# --- server C: SIGTERM while requests are in flight ------------------------------
start c --max-batch 8 --max-wait-ms 2500
"$PY" - "$PORT" "$tmp" "$PID" <<'PYEOF' || fail "drain checks"
import http.client, json, os, signal, sys, threading, time
port, tmp, pid = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
ref = [json.loads(l) for l in open(tmp + "/predict.jsonl")]
def check(cond, msg):
    if not cond:
        print("FAIL:", msg); sys.exit(1)
res = [None] * 3
def w(i):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request("POST", "/v1/predict", body=open(ref[i]["file"], "rb").read(), headers={"Content-Type": "image/jpeg"})
    r = c.getresponse(); res[i] = (r.status, json.loads(r.read())); c.close()
ts = [threading.Thread(target=w, args=(i,)) for i in range(3)]
[t.start() for t in ts]
time.sleep(1.0)                   # the three wait in the queue (--max-wait-ms 2500)
os.kill(pid, signal.SIGTERM)
time.sleep(0.3)
try:                              # a request after SIGTERM: 503, or refused once stopped
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", "/healthz"); r = c.getresponse(); d = json.loads(r.read())
    check(r.status == 503 and "shutting down" in d["error"], "after SIGTERM: %d %r" % (r.status, d))
except ConnectionError:
    pass
[t.join(60) for t in ts]
for i in range(3):
    check(res[i] and res[i][0] == 200 and res[i][1]["probabilities"] == ref[i]["probs"], "in flight %d: %r" % (i, res[i]))
print("SIGTERM: the 3 requests in flight were answered")
PYEOF
for _ in $(seq 1 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$PID" 2>/dev/null && fail "server C still running after the drain"
wait "$PID" || fail "server C exit status after SIGTERM"
grep -q "finishing 3 requests in flight" "$tmp/c.log" || fail "drain message"

# usage errors
rc=0; "$BIN" serve >/dev/null 2>&1 || rc=$?; [ "$rc" -eq 2 ] || fail "serve without --model: $rc"
rc=0; "$BIN" serve --model "$M" --bind nonsense >/dev/null 2>"$tmp/bind.err" || rc=$?
[ "$rc" -eq 1 ] && grep -q "not an IPv4 address" "$tmp/bind.err" || fail "--bind nonsense"
echo "test_serve: ok"
