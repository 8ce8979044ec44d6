"""Sum oneDNN verbose exec times (ms) read on stdin, divided by the iteration
count given, by primitive kind. usage: dnn_verbose_sum.py <iters> [--table]
Prints 'dnn-ms/step <total> conv <c> bnorm <b> other <o>' (one line), or with
--table the per-(kind, implementation, propagation) breakdown."""
import collections
import sys

iters = max(1, int(sys.argv[1]))
table = "--table" in sys.argv
tot = collections.defaultdict(float)
cnt = collections.Counter()
for line in sys.stdin:
    f = line.strip().split(",")
    if len(f) < 10 or f[0] not in ("onednn_verbose", "dnnl_verbose") or f[1] != "exec":
        continue
    try:
        t = float(f[-1])
    except ValueError:
        continue
    key = (f[3], f[4], f[5])
    tot[key] += t / iters
    cnt[key] += 1
T = sum(tot.values())
if table:
    for k, v in sorted(tot.items(), key=lambda kv: -kv[1]):
        print("%9.1f ms/step %5.1f%% %4d calls/step  %s" % (v, 100 * v / T if T else 0,
                                                             cnt[k] // iters, " ".join(k)))
else:
    conv = sum(v for k, v in tot.items() if k[0] == "convolution")
    bn = sum(v for k, v in tot.items() if k[0] == "batch_normalization")
    print("dnn-ms/step %.1f conv %.1f bnorm %.1f other %.1f" % (T, conv, bn, T - conv - bn))
