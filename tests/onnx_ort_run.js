// Runs an ONNX model with onnxruntime-node on raw float32 (3,224,224) inputs
// (pneumo preprocess -f f32) as one batch; prints one JSON line per input:
// {"probabilities": [...], "logits": [...]} (used by tests/test_onnx.sh).
// usage: NODE_PATH=DIR/node_modules node onnx_ort_run.js MODEL.onnx X.f32...
"use strict";
const fs = require("fs");
const ort = require("onnxruntime-node");

(async () => {
  const [model, ...inputs] = process.argv.slice(2);
  const per = 3 * 224 * 224;
  const x = new Float32Array(per * inputs.length);
  inputs.forEach((f, i) => {
    const b = fs.readFileSync(f);
    if (b.length !== per * 4) throw new Error(f + ": " + b.length + " bytes, want " + per * 4);
    x.set(new Float32Array(b.buffer, b.byteOffset, per), i * per);
  });
  const s = await ort.InferenceSession.create(model, { executionProviders: ["cpu"] });
  console.error("inputs " + JSON.stringify(s.inputNames) + " outputs " + JSON.stringify(s.outputNames));
  const out = await s.run({ input: new ort.Tensor("float32", x, [inputs.length, 3, 224, 224]) });
  const C = out.probabilities.dims[1];
  for (let i = 0; i < inputs.length; i++) {
    const p = Array.from(out.probabilities.data.slice(i * C, (i + 1) * C));
    const l = Array.from(out.logits.data.slice(i * C, (i + 1) * C));
    console.log(JSON.stringify({ probabilities: p, logits: l }));
  }
})().catch((e) => { console.error("onnxruntime: " + e.message); process.exit(1); });
