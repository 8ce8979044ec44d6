#!/usr/bin/python3
"""Table for bench/bench_engine.sh, all measured in the same run:
  compare_engine.py PEAK.json PNEUMO.json TORCH.json [ORT.json [ORT_BUSY.json]]
PEAK: bench/peak.c; PNEUMO: `pneumo bench --json`; TORCH: bench/torch_resnet.py
--json; ORT: bench/ort_resnet.js (ORT_BUSY: the same beside a busy neighbour).
Each argument may be a comma-separated list of files, one per round of a
run that repeated every engine (bench_engine.sh BENCH_REPEAT=R, the rounds
interleaved): every row then shows the best of the rounds, the highest
img/s and separately the lowest cpu-s/img, and the peaks are the highest
measured (on a VM whose host steals cycles, the best round is the closest
to what the core can do; the same rule for every engine).

Every forward row: img/s (median batch), its ratio to the best peer of the
same precision at the same threads and neighbour (peers: PyTorch eager,
PyTorch best = TorchScript freeze + channels_last, bf16 autocast, FX int8,
ONNX Runtime; fp32 peers for pneumo's Winograd), and the fraction of the
physical limit: img/s x 3.63 GFLOP per image / (peak per core x threads),
with the FMA peak for fp32 (the better of peak.c's AVX2 and AVX-512 loops),
the AVX-512 BF16 dot-product peak for bf16 (the FMA peak where the CPU has
none) and the int8 peak (VNNI where the CPU has it, else AVX2's vpmaddubsw
chain) for int8. Winograd does fewer multiplications than the 3.63 GFLOP
counted, so its fraction is an effective one and can pass 100%. cpu-s/img is the process CPU
time per image (user + sys, all threads), steadier than img/s on a shared
machine (at 1 thread; at more, spinning OpenMP threads inflate it); the last
column is the same ratio from it (best peer's cpu-s/img / this row's)."""
import json
import sys

GFLOP = 3.63  # ResNet-18, 224x224: 1.81 G multiply-adds


def f(v, fmt="%.1f"):
    return fmt % v if v else "-"


def row_key(r):
    return tuple(r.get(k) for k in ("workload", "dtype", "variant", "schedule", "threads",
                                    "busy", "freeze"))


def load_best(arg):
    """One JSON document from a comma-separated list of rounds: the first
    round's fields, each result row the best over the rounds (max img/s,
    min cpu-s/img), numeric top-level fields (peaks, RSS) the max."""
    docs = [json.load(open(a)) for a in arg.split(",")]
    out = dict(docs[0])
    for d in docs[1:]:
        for k, v in d.items():
            if k != "results" and isinstance(v, (int, float)) and isinstance(out.get(k), (int, float)):
                out[k] = max(out[k], v)
    if "results" in out:
        best, order = {}, []
        for d in docs:
            for r in d["results"]:
                k = row_key(r)
                if k not in best:
                    best[k] = dict(r)
                    order.append(k)
                    continue
                b = best[k]
                if r.get("img_per_s") and r["img_per_s"] > (b.get("img_per_s") or 0):
                    b["img_per_s"] = r["img_per_s"]
                if r.get("cpu_s_per_img") and (not b.get("cpu_s_per_img")
                                               or r["cpu_s_per_img"] < b["cpu_s_per_img"]):
                    b["cpu_s_per_img"] = r["cpu_s_per_img"]
        out["results"] = [best[k] for k in order]
    out["rounds"] = len(docs)
    return out


def main():
    peak = load_best(sys.argv[1])
    p = load_best(sys.argv[2])
    t = load_best(sys.argv[3])
    orts = [load_best(a) for a in sys.argv[4:6]]
    rows = []  # (engine, variant, precision, threads, busy, img/s, cpu-s/img)
    for r in p["results"]:
        if r["workload"] != "forward":
            continue
        dt = r["dtype"]
        prec = "fp32" if "->" in dt or dt == "winograd" else dt
        rows.append(("pneumo", dt + ("" if r["threads"] == 1 else ", " + r["schedule"]),
                     prec, r["threads"], r.get("busy", 0), r["img_per_s"], r["cpu_s_per_img"]))
    for r in t["results"]:
        if r["workload"] == "forward":
            rows.append(("PyTorch %s" % t["torch"], r["variant"], r["dtype"], r["threads"], 0,
                         r["img_per_s"], r["cpu_s_per_img"]))
    for k, o in enumerate(orts):
        for r in o["results"]:
            rows.append(("ONNX Runtime %s" % o["ort"], r["variant"], "fp32", r["threads"], k,
                         r["img_per_s"], r["cpu_s_per_img"]))

    def best_peer(prec, n, busy, k=5):
        v = [r[k] for r in rows if r[0] != "pneumo" and r[2] == prec and r[3] == n and r[4] == busy]
        return (max(v) if k == 5 else min(v)) if v else None

    int8_peak = peak.get("vnni_gops_per_core") or peak["avx2_int8_gops_per_core"]
    bf16_peak = peak.get("bf16_gflops_per_core") or peak["fma_gflops_per_core"]
    print("ResNet-18 forward, batch %d, 224x224, on %s (peak per core: FMA %.1f GFLOP/s "
          "(AVX2 %.1f, AVX-512 %s), bf16 %s, int8 %.1f Gop/s %s), all measured in the same run%s"
          % (p["batch"], peak["cpu"], peak["fma_gflops_per_core"],
             peak.get("fma_avx2_gflops_per_core", peak["fma_gflops_per_core"]),
             f(peak.get("fma_avx512_gflops_per_core")),
             "%.1f GFLOP/s vdpbf16ps" % peak["bf16_gflops_per_core"]
             if peak.get("bf16_gflops_per_core") else "none (FMA peak used)", int8_peak,
             "VNNI" if peak.get("vnni_gops_per_core") else "AVX2 vpmaddubsw, no VNNI",
             "; best of %d interleaved rounds per row" % p["rounds"] if p["rounds"] > 1 else ""))
    print("| engine | variant | threads | neighbour | img/s | / best peer | fraction of peak "
          "| cpu-s/img | / best peer by cpu-s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for eng, var, prec, n, busy, ips, cpu in rows:
        b = best_peer(prec, n, busy)
        bc = best_peer(prec, n, busy, 6)
        pk = (int8_peak if prec == "int8" else bf16_peak if prec == "bf16"
              else peak["fma_gflops_per_core"]) * n
        print("| %s | %s | %d | %s | %s | %s | %s | %s | %s |" % (
            eng, var, n, "busy" if busy else "quiet", f(ips),
            "%.2fx" % (ips / b) if b else "-", "%.0f%%" % (100 * ips * GFLOP / pk) if pk else "-",
            f(cpu, "%.4f"), "%.2fx" % (bc / cpu) if bc and cpu else "-"))
    pf = {(r[3], r[4]): r[5] for r in rows if r[0] == "pneumo" and r[1].startswith("fp32")
          and "static" not in r[1]}
    for eng, var, prec, n, busy, ips, cpu in rows:
        if eng == "pneumo" and prec == "int8" and (n, busy) in pf and "static" not in var:
            print("pneumo int8 / pneumo fp32 at %d thread%s%s: %.2fx" % (
                n, "s" if n > 1 else "", ", busy" if busy else "", ips / pf[(n, busy)]))
    tr = {(r["variant"], r["threads"]): r for r in t["results"] if r["workload"] == "train_step"}
    train = [r for r in p["results"] if r["workload"] == "train_step"]
    if train:
        print()
        print("| training step fp32 | threads | pneumo img/s | PyTorch img/s | pneumo / PyTorch |")
        print("|---|---|---|---|---|")
        for r in train:
            o = tr.get((r["freeze"], r["threads"]))
            print("| freeze %s | %d | %s | %s | %s |" % (
                r["freeze"], r["threads"], f(r["img_per_s"]), f(o and o["img_per_s"]),
                "%.2fx" % (r["img_per_s"] / o["img_per_s"]) if o else "-"))
    print("peak RSS of pneumo bench: %.0f MB after the forward workloads, %.0f MB in all"
          % (p["peak_rss_forward_mb"], p["peak_rss_mb"]))
    print("(timings on a shared machine are noisy; rerun on a quiet one)")


if __name__ == "__main__":
    main()
