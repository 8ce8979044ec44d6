"""Open a pneumo report.html in headless Chromium over the DevTools protocol
(--remote-debugging-pipe: JSON messages ending in NUL on fds 3/4) and check
what a reader sees: the expected sections in order, every embedded chart
decoded, the intervals shown, and a full-page screenshot in which each
section heading and each chart is actually drawn at the place the layout
gives it. Used by tests/test_report_web.sh; python3 standard library + PIL.

usage: report_web_cdp.py CHROMIUM REPORT_HTML SCREENSHOT PROFILE_DIR SECTION...
"""
import base64, io, os, sys, time

from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cdp import Browser

chromium, report, shot, profile = sys.argv[1:5]
want = sys.argv[5:]
b = Browser(chromium, profile)
fail, send, evaluate = b.fail, b.send, b.evaluate
s = b.page("file://" + os.path.abspath(report))
deadline = time.time() + 60
while not evaluate("document.readyState === 'complete' && [...document.images].every(i => i.complete)", s):
    if time.time() > deadline:
        fail("the report did not load")
    time.sleep(0.2)

heads = evaluate("[...document.querySelectorAll('h1,h2,h3')].map(h => h.textContent)", s)
print("sections:", heads)
pos = -1
for w in want:  # in this order
    hits = [i for i, h in enumerate(heads) if h == w]
    if not hits or hits[-1] <= pos:
        fail("section %r missing or out of order in %r" % (w, heads))
    pos = hits[-1]
imgs = evaluate("[...document.images].map(i => [i.alt, i.naturalWidth, i.naturalHeight])", s)
print("images:", imgs)
if not imgs or any(w == 0 for _, w, _ in imgs):
    fail("an embedded chart did not decode: %r" % imgs)
text = evaluate("document.body.innerText", s)
for must in ("95% confidence interval", "Wilson", "DeLong", "SHA-256 of the data manifest", "command line"):
    if must not in text:
        fail("the page does not say %r" % must)
if "NaN" in text:
    fail("NaN shown on the page")

# full-page screenshot; each heading and chart must be drawn where it is laid out
size = evaluate("[document.documentElement.scrollWidth, document.documentElement.scrollHeight]", s)
send("Emulation.setDeviceMetricsOverride", {"width": 1280, "height": size[1], "deviceScaleFactor": 1, "mobile": False}, s)
time.sleep(0.3)
rects = evaluate("[...document.querySelectorAll('h1,h2,h3,img')].map(e => { const r = e.getBoundingClientRect();"
                 " return [e.tagName, e.textContent || e.alt, r.left, r.top + scrollY, r.width, r.height]; })", s)
png = base64.b64decode(send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}, s)["data"])
with open(shot, "wb") as f:
    f.write(png)
im = Image.open(io.BytesIO(png)).convert("RGB")
print("screenshot", im.size)
if im.size[1] < size[1] * 0.9:
    fail("screenshot %r shorter than the page %r" % (im.size, size))
for tag, name, x, y, w, h in rects:
    if w < 4 or h < 4:
        fail("%s %r has no size on the page" % (tag, name))
    box = im.crop((int(x), int(y), int(x + w), int(y + h)))
    px = list(box.getdata())
    dark = sum(1 for r, g, b in px if r + g + b < 300)
    colour = sum(1 for r, g, b in px if max(r, g, b) - min(r, g, b) > 60)
    if tag == "IMG":
        if colour < 200:
            fail("chart %r is not drawn in the screenshot (%d coloured pixels)" % (name, colour))
    elif dark < 20:
        fail("heading %r is not drawn in the screenshot (%d dark pixels)" % (name, dark))
print("screenshot: %d headings and charts drawn" % len(rects))
b.close()
