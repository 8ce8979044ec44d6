"""Headless Chromium over the DevTools protocol (--remote-debugging-pipe:
JSON messages ending in NUL on fds 3/4), python3 standard library only.
Shared by tests/serve_web_cdp.py and tests/report_web_cdp.py.

    b = Browser(chromium, profile_dir)      # started with the project's flags
    s = b.page(url)                         # a new tab's session, navigated
    b.evaluate("document.title", s)
    b.fail("message")                       # prints, kills the browser, exits 1
"""
import json, os, subprocess, sys, time


class Browser:
    def __init__(self, chromium, profile):
        os.makedirs(profile, exist_ok=True)
        self.profile = profile
        to_r, self.to_w = os.pipe()
        self.from_r, from_w = os.pipe()
        args = [chromium, "--headless", "--no-sandbox", "--disable-gpu",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--disable-extensions", "--disable-dev-shm-usage",
                "--user-data-dir=" + profile, "--remote-debugging-pipe", "--window-size=1280,900",
                "about:blank"]
        # fd 3: commands to the browser, fd 4: its answers
        self.proc = subprocess.Popen(["bash", "-c", 'exec "$0" "$@" 3<&%d 4>&%d' % (to_r, from_w)] + args,
                                     pass_fds=(to_r, from_w), stdout=subprocess.DEVNULL,
                                     stderr=open(profile + "/chromium.log", "w"))
        os.close(to_r)
        os.close(from_w)
        self.buf = b""
        self.next_id = 0

    def fail(self, msg):
        print("FAIL:", msg)
        try:
            print(open(self.profile + "/chromium.log").read()[-3000:])
        except OSError:
            pass
        self.proc.kill()
        sys.exit(1)

    def send(self, method, params=None, session=None, timeout=60):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self.to_w, json.dumps(msg).encode() + b"\0")
        deadline = time.time() + timeout
        while True:
            while b"\0" in self.buf:
                raw, self.buf = self.buf.split(b"\0", 1)
                m = json.loads(raw)
                if m.get("id") == self.next_id:
                    if "error" in m:
                        self.fail("%s: %s" % (method, m["error"]))
                    return m.get("result", {})
            if time.time() > deadline:
                self.fail("no answer to " + method)
            chunk = os.read(self.from_r, 1 << 20)
            if not chunk:
                self.fail("chromium closed the pipe (during %s)" % method)
            self.buf += chunk

    def evaluate(self, expr, session):
        r = self.send("Runtime.evaluate", {"expression": expr, "returnByValue": True}, session)
        return r.get("result", {}).get("value")

    def page(self, url):
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        s = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        self.send("Page.enable", session=s)
        self.send("Runtime.enable", session=s)
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": False}, s)
        self.send("Page.navigate", {"url": url}, s)
        return s

    def close(self):
        try:
            self.send("Browser.close", timeout=10)
        except SystemExit:
            raise
        self.proc.wait(timeout=20)
