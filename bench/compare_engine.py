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
    for r in p["results"]:
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
            print("| training step, freeze %s | %d | TODO (engine) | %.1f | %.1f | - |"
                  % (v, n, ips, ips))
    print("peak RSS of pneumo bench: %.0f MB" % p["peak_rss_mb"])


if __name__ == "__main__":
    main()
