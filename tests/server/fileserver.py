#!/usr/bin/python3
"""Local HTTP file server for the fetch tests (Python stdlib only).

    fileserver.py --root DIR --port-file FILE --log FILE [--max-seconds 120]

Listens on 127.0.0.1 on a free port (written to --port-file when ready) and
serves the files under --root with Range support (single ranges: "bytes=a-b",
"bytes=a-", "bytes=-n"; 206 + Content-Range, 416 when unsatisfiable), a
strong ETag, and If-Range (a stale validator gets the whole file, 200).
Every request is appended to --log as one JSON line:
{"method", "path", "range", "if_range", "auth", "host"}.

Misbehaviour is chosen by path segments in front of the file name, applied
left to right, e.g. /drop=1000/auth=u:k/weights.pth:

  auth=USER:KEY    401 unless HTTP basic auth is USER:KEY
  status=NNN       answer NNN with a short body
  fail=K           the first K requests for this URL answer 500
  drop=N           the first request for this URL sends the headers (full
                   Content-Length) and N body bytes, then closes the connection
  dropall=N        like drop=N, for every request
  stall=N          send N body bytes, then nothing (until the client gives up)
  norange          ignore Range (always 200 with the whole file)
  badrange         answer a Range request with a 206 whose Content-Range
                   starts at 0
  nolength         no Content-Length: the body ends when the connection closes
  tag=ANY          ignored (makes a URL unique, for the per-URL counters)
  redirect=PORT    302 to http://127.0.0.1:PORT/<rest of the path>
  wrong=FILE       serve FILE instead of the requested file (a wrong file)

The server exits on SIGTERM, when its parent process goes away, or after
--max-seconds, so a crashed test never leaves it running.
"""
import argparse
import base64
import hashlib
import json
import os
import re
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

counts = {}
counts_lock = threading.Lock()
log_lock = threading.Lock()


def bump(key):
    with counts_lock:
        counts[key] = counts.get(key, 0) + 1
        return counts[key]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "pneumo-test/1"

    def log_message(self, fmt, *args):  # quiet
        pass

    def log_request_json(self):
        rec = {
            "method": self.command,
            "path": self.path,
            "range": self.headers.get("Range"),
            "if_range": self.headers.get("If-Range"),
            "auth": self.headers.get("Authorization"),
            "host": self.headers.get("Host"),
        }
        with log_lock, open(self.server.log_path, "a") as f:
            f.write(json.dumps(rec) + "\n")

    def simple(self, code, text, extra=None):
        body = (text + "\n").encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        self.log_request_json()
        segs = [s for s in self.path.split("?")[0].split("/") if s]
        drop = stall = None
        norange = badrange = nolength = False
        serve = None
        i = 0
        while i < len(segs):
            s = segs[i]
            k, _, v = s.partition("=")
            if k == "auth" and v:
                want = "Basic " + base64.b64encode(v.encode()).decode()
                if self.headers.get("Authorization") != want:
                    return self.simple(401, "unauthorized",
                                       {"WWW-Authenticate": 'Basic realm="test"'})
            elif k == "status" and v:
                return self.simple(int(v), "status " + v)
            elif k == "fail" and v:
                if bump(self.path) <= int(v):
                    return self.simple(500, "transient failure")
            elif k == "drop" and v:
                if bump(("drop", self.path)) == 1:
                    drop = int(v)
            elif k == "dropall" and v:
                drop = int(v)
            elif k == "stall" and v:
                stall = int(v)
            elif s == "norange":
                norange = True
            elif s == "badrange":
                badrange = True
            elif s == "nolength":
                nolength = True
            elif k == "redirect" and v:
                rest = "/".join(segs[i + 1:])
                loc = "http://127.0.0.1:%s/%s" % (v, rest)
                return self.simple(302, "moved", {"Location": loc})
            elif k == "tag":
                pass
            elif k == "wrong" and v:
                serve = v
            else:
                break
            i += 1
        name = serve or "/".join(segs[i:])
        root = os.path.realpath(self.server.root)
        path = os.path.realpath(os.path.join(root, name))
        if not path.startswith(root + os.sep) or not os.path.isfile(path):
            return self.simple(404, "not found")
        with open(path, "rb") as f:
            data = f.read()
        size = len(data)
        etag = '"%s"' % hashlib.sha256(data).hexdigest()[:16]
        start, end = 0, size - 1
        code = 200
        rng = self.headers.get("Range")
        if_range = self.headers.get("If-Range")
        if if_range is not None and if_range != etag:
            rng = None  # the file changed: send all of it (RFC 9110 13.1.5)
        if rng and not norange:
            m = re.fullmatch(r"bytes=(\d*)-(\d*)", rng.strip())
            if not m or (m.group(1) == "" and m.group(2) == ""):
                return self.simple(400, "bad range")
            if m.group(1) == "":
                n = int(m.group(2))
                start, end = max(0, size - n), size - 1
            else:
                start = int(m.group(1))
                end = int(m.group(2)) if m.group(2) else size - 1
                end = min(end, size - 1)
            if start >= size or start > end:
                return self.simple(416, "range not satisfiable",
                                   {"Content-Range": "bytes */%d" % size})
            code = 206
        body = data[start:end + 1]
        self.send_response(code)
        self.send_header("Content-Type", "application/octet-stream")
        if nolength:
            self.send_header("Connection", "close")
            self.close_connection = True
        else:
            self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("ETag", etag)
        if code == 206:
            cr_start = 0 if badrange else start
            self.send_header("Content-Range",
                             "bytes %d-%d/%d" % (cr_start, cr_start + len(body) - 1, size))
        self.end_headers()
        if self.command == "HEAD":
            return
        try:
            if drop is not None:
                self.wfile.write(body[:drop])
                self.wfile.flush()
                self.close_connection = True
                return
            if stall is not None:
                self.wfile.write(body[:stall])
                self.wfile.flush()
                t0 = time.time()
                while time.time() - t0 < 60 and not self.server.stopping:
                    time.sleep(0.05)
                self.close_connection = True
                return
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


class Server(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # clients that hang up on purpose (stall, retries) are expected


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--max-seconds", type=float, default=120)
    a = ap.parse_args()
    srv = Server(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    srv.root = a.root
    srv.log_path = a.log
    srv.stopping = False
    parent = os.getppid()

    def stop(*_):
        srv.stopping = True
        threading.Thread(target=srv.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    def watchdog():
        t0 = time.time()
        while not srv.stopping:
            if os.getppid() != parent or time.time() - t0 > a.max_seconds:
                stop()
                return
            time.sleep(0.2)

    threading.Thread(target=watchdog, daemon=True).start()
    tmp = a.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(tmp, a.port_file)
    srv.serve_forever(poll_interval=0.1)
    srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
