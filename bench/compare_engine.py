#!/usr/bin/python3
"""Table for bench/bench_engine.sh: `pneumo bench --json` beside
bench/torch_resnet.py --json (measured in the same run), with ratios.
img/s is the median batch; cpu-s/img the process CPU time per image (user +
sys, all threads), steadier than img/s on a shared machine at 1 thread."""
import json
import sys


def f(v, fmt="%.1f"):
    return fmt % v if v else "-"


def main():
    p = json.load(open(sys.argv[1]))
    t = json.load(open(sys.argv[2]))
    tr = {(r["workload"], r["dtype"], r["variant"], r["threads"]): r for r in t["results"]}
    print("ResNet-18, batch %d, %dx%d (PyTorch %s, same run)" % (p["batch"], p["size"], p["size"],
                                                                  t["torch"]))
    print("| workload | threads | pneumo img/s | PyTorch eager | PyTorch best | pneumo / best "
          "| pneumo cpu-s/img | PyTorch best cpu-s/img |")
    print("|---|---|---|---|---|---|---|---|")
    rows = []
    for r in p["results"]:
        n = r["threads"]
        if r["workload"] == "train_step":
            lv = r["freeze"]
            eager = best = tr.get(("train_step", "fp32", lv, n))
            name = "training step fp32, freeze %s" % lv
        elif r["dtype"].startswith("bf16"):
            eager = best = tr.get(("forward", "bf16", "autocast", n))
            name = "forward %s (PyTorch: autocast)" % r["dtype"]
        else:
            eager = tr.get(("forward", "fp32", "eager", n))
            best = tr.get(("forward", "fp32", "jit-freeze-channels_last", n))
            name = "forward fp32 (PyTorch best: jit freeze + channels_last)"
        rows.append((name, n, r, eager, best))
    have_train = any(r["workload"] == "train_step" for r in p["results"])
    for (w, d, v, n), tt in tr.items():
        if w == "train_step" and not have_train:
            rows.append(("training step fp32, freeze %s" % v, n, None, tt, tt))
    for name, n, r, eager, best in rows:
        mine = r["img_per_s"] if r else None
        print("| %s | %d | %s | %s | %s | %s | %s | %s |" % (
            name, n, f(mine) if r else "n/a",
            f(eager and eager["img_per_s"]), f(best and best["img_per_s"]),
            "%.2fx" % (mine / best["img_per_s"]) if mine and best else "-",
            f(r and r.get("cpu_s_per_img"), "%.4f"), f(best and best.get("cpu_s_per_img"), "%.4f")))
    print("peak RSS of pneumo bench: %.0f MB after the forward workloads, %.0f MB in all"
          % (p["peak_rss_forward_mb"], p["peak_rss_mb"]))
    print("(timings on a shared machine are noisy; rerun on a quiet one)")


if __name__ == "__main__":
    main()
