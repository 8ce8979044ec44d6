"""Drive pneumo serve's web page in headless Chromium over the DevTools
protocol (--remote-debugging-pipe: JSON messages ending in NUL on fds 3/4).
Used by tests/test_serve_web.sh; python3 standard library only.

usage: serve_web_cdp.py CHROMIUM URL IMAGE REF_JSON NON_IMAGE SCREENSHOT PROFILE_DIR MODEL_NAME
                        [DICOM DICOM_REF_JSON]
"""
import base64, json, os, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cdp import Browser

chromium, url, image, ref_json, non_image, shot, profile, model_name = sys.argv[1:9]
dicom, dicom_ref = (sys.argv[9], json.loads(open(sys.argv[10]).read())) if len(sys.argv) > 10 else (None, None)
ref = json.loads(open(ref_json).read())
b = Browser(chromium, profile)
fail, send, evaluate = b.fail, b.send, b.evaluate


def wait_for(expr, session, what, timeout=90):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = evaluate(expr, session)
        if v:
            return v
        time.sleep(0.2)
    fail("timed out waiting for " + what)


s = b.page(url)
wait_for("document.readyState === 'complete' && document.getElementById('m-sha') && "
         "document.getElementById('m-sha').textContent.length === 64", s, "the model card")
name = evaluate("document.getElementById('m-name').textContent", s)
if name != model_name:
    fail("model name shown: %r" % name)


def upload(path):
    root = send("DOM.getDocument", {"depth": 1}, s)["root"]["nodeId"]
    node = send("DOM.querySelector", {"nodeId": root, "selector": "#file"}, s)["nodeId"]
    send("DOM.setFileInputFiles", {"files": [os.path.abspath(path)], "nodeId": node}, s)


# a non-image: the page says so, nothing is shown as a result
upload(non_image)
err = wait_for("(e => e.style.display === 'block' && e.textContent)(document.getElementById('error'))", s,
               "the error message")
if "not a JPEG or PNG" not in err:
    fail("error shown for a non-image: %r" % err)
print("non-image refused:", err)

def shown_result(ref, what):
    value = wait_for("document.getElementById('prob').dataset.value", s, "the probability of " + what)
    shown = evaluate("document.getElementById('prob').textContent", s)
    label = evaluate("document.getElementById('decision').firstChild.textContent", s)
    p = ref["probs"][1]
    if float(value) != p:
        fail("%s: page value %r != pneumo predict %r" % (what, value, p))
    if shown != "%.4f" % p:
        fail("%s: page shows %r, want %.4f" % (what, shown, p))
    if label != ref["label"]:
        fail("%s: page label %r != %r" % (what, label, ref["label"]))
    wait_for("(c => c.complete && c.naturalWidth > 0)(document.getElementById('xray'))", s, "the image of " + what)
    wait_for("(c => c.complete && c.naturalWidth > 0)(document.getElementById('cam'))", s, "the CAM of " + what)
    print("page, %s: P(PNEUMONIA) %s (shown %s), label %s == pneumo predict" % (what, value, shown, label))


# a DICOM: the server renders it (the browser cannot); probability and label
# as pneumo predict on the same file, the image drawn from the server's PNG
if dicom:
    upload(dicom)
    shown_result(dicom_ref, "DICOM " + os.path.basename(dicom))
    src = evaluate("document.getElementById('xray').src.slice(0, 22)", s)
    if src != "data:image/png;base64,":
        fail("DICOM image not drawn from the server's PNG: %r" % src)
    time.sleep(0.3)
    with open(shot[:-4] + "_dicom.png" if shot.endswith(".png") else shot + "_dicom", "wb") as f:
        f.write(base64.b64decode(send("Page.captureScreenshot", {"format": "png"}, s)["data"]))
    upload(non_image)  # clears the result
    wait_for("(e => e.style.display === 'block')(document.getElementById('error'))", s, "the error")

# the X-ray: probability and label as pneumo predict
upload(image)
value = wait_for("document.getElementById('prob').dataset.value", s, "the probability")
shown = evaluate("document.getElementById('prob').textContent", s)
label = evaluate("document.getElementById('decision').firstChild.textContent", s)
p = ref["probs"][1]
if float(value) != p:
    fail("page value %r != pneumo predict %r" % (value, p))
if shown != "%.4f" % p:
    fail("page shows %r, want %.4f" % (shown, p))
if label != ref["label"]:
    fail("page label %r != %r" % (label, ref["label"]))
if evaluate("document.getElementById('error').style.display", s) != "none":
    fail("error still shown after a good image")
wait_for("(c => c.complete && c.naturalWidth > 0)(document.getElementById('cam'))", s, "the CAM overlay")
wait_for("(c => c.complete && c.naturalWidth > 0)(document.getElementById('xray'))", s, "the image")
print("page: P(PNEUMONIA) %s (shown %s), label %s — pneumo predict: %r %s" % (value, shown, label, p, ref["label"]))
time.sleep(0.3)
png = base64.b64decode(send("Page.captureScreenshot", {"format": "png"}, s)["data"])
with open(shot, "wb") as f:
    f.write(png)
b.close()
