#!/usr/bin/python3
"""Table for bench/bench_engine.sh: `pneumo bench --json` beside
bench/torch_resnet.py --json (measured in the same run), with ratios."""
import json
import sys


def main():
    p = json.load(open(sys.argv[1]))
    t = json.load(open(sys.argv[2]))
    tr = {(r["workload"], r["dtype"], r["variant"], r["threads"]): r["img_per_s"]
          for r in t["results"]}
    print("ResNet-18, batch %d, %dx%d, images/s (median of timed batches; PyTorch %s)"
          % (p["batch"], p["size"], p["size"], t["torch"]))
    print("| workload | threads | pneumo | PyTorch eager | PyTorch best | pneumo / best |")
    print("|---|---|---|---|---|---|")
    ptrain = {}
    for r in p["results"]:
        if r["workload"] == "train_step":
            ptrain[(r["freeze"], r["threads"])] = r["img_per_s"]
            continue
        d, n = r["dtype"], r["threads"]
        if d.startswith("bf16"):
            eager = tr.get(("forward", "bf16", "autocast", n))
            best = eager
            name = "forward %s (PyTorch: autocast)" % d
        else:
            eager = tr.get(("forward", "fp32", "eager", n))
            best = tr.get(("forward", "fp32", "jit-freeze-channels_last", n))
            name = "forward fp32 (PyTorch best: jit freeze + channels_last)"
        f = lambda v: "%.1f" % v if v else "-"
        ratio = "%.2fx" % (r["img_per_s"] / best) if best else "-"
        print("| %s | %d | %.1f | %s | %s | %s |" % (name, n, r["img_per_s"], f(eager), f(best),
                                                    ratio))
    for (w, d, v, n), ips in tr.items():
        if w == "train_step":
            mine = ptrain.get((v, n))
            print("| training step fp32, freeze %s | %d | %s | %.1f | %.1f | %s |"
                  % (v, n, "%.1f" % mine if mine else "n/a (no training engine)", ips, ips,
                     "%.2fx" % (mine / ips) if mine else "-"))
    print("peak RSS of pneumo bench: %.0f MB after the forward workloads, %.0f MB in all"
          % (p["peak_rss_forward_mb"], p["peak_rss_mb"]))


if __name__ == "__main__":
    main()
