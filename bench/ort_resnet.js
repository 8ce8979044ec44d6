// ONNX Runtime side of bench/bench_engine.sh: a ResNet-18 ONNX file
// (torch.onnx.export, bench/export_onnx.py) on onnxruntime-node's CPU
// execution provider (MLAS), batch B of random input, for each thread count:
// one warm-up batch, then the median of ITERS batches. Prints one JSON object.
// usage: NODE_PATH=DIR/node_modules node ort_resnet.js MODEL.onnx BATCH ITERS THREADS...
"use strict";
const ort = require("onnxruntime-node");

function median(v) {
  v = v.slice().sort((a, b) => a - b);
  const n = v.length;
  return n % 2 ? v[(n - 1) / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

(async () => {
  const [model, b, it, ...threads] = process.argv.slice(2);
  const batch = +b, iters = +it;
  const x = new Float32Array(batch * 3 * 224 * 224);
  for (let i = 0; i < x.length; i++) x[i] = Math.random() * 2 - 1;
  const feeds = { input: new ort.Tensor("float32", x, [batch, 3, 224, 224]) };
  const results = [];
  for (const t of threads.map(Number)) {
    const s = await ort.InferenceSession.create(model, {
      executionProviders: ["cpu"], intraOpNumThreads: t, interOpNumThreads: 1,
      graphOptimizationLevel: "all", executionMode: "sequential",
    });
    await s.run(feeds);
    const times = [];
    const c0 = process.cpuUsage();
    for (let i = 0; i < iters; i++) {
      const t0 = process.hrtime.bigint();
      await s.run(feeds);
      times.push(Number(process.hrtime.bigint() - t0) / 1e9);
    }
    const c = process.cpuUsage(c0);
    results.push({ workload: "forward", dtype: "fp32", variant: "ort-cpu", threads: t,
                   img_per_s: +(batch / median(times)).toFixed(2),
                   cpu_s_per_img: +((c.user + c.system) / 1e6 / (iters * batch)).toFixed(5) });
    await s.release();
  }
  const version = require("onnxruntime-node/package.json").version;
  console.log(JSON.stringify({ ort: version, batch, results }));
})().catch((e) => { console.error("onnxruntime: " + e.message); process.exit(1); });
