"""bench/run's report: medians over rounds per path, the ratios to the anchors and the goals of issue 8.

Reads the JSON lines bench/run collected (one sidecar-load run each) and prints plain-text tables.
With --quick 1 it judges nothing about speed: it only checks that every run got answers, without
errors or timeouts, and exits 1 otherwise.
"""
import argparse
import collections
import glob
import json
import os
import random
import statistics
import sys

NAMES = {
    "a": "a origin direct",
    "b": "b nginx -> origin",
    "bx": "b' nginx -> origin, X-Forwarded-*",
    "c": "c haproxy -> origin",
    "d": "d sidecar pass-through -> origin",
    "e": "e raw nats.c -> raw responder",
    "f": "f NATS -> sidecar -> native",
    "g": "g NATS -> sidecar -> legacy HTTP",
    "h": "h HTTP -> gw -> NATS -> native",
    "i": "i h + 100% shadow to legacy",
    "j": "j payment.purchase JetStream KV",
    # issue 5's pairs: the read on KV and the CAS write in memory, beside f and j
    "fk": "f' settings.get JetStream KV",
    "jm": "j' payment.purchase in-memory",
}
HTTP_PATHS = ["a", "b", "bx", "c", "d", "h", "i"]
NATS_PATHS = ["e", "f", "fk", "g", "j", "jm"]
# The NATS paths that also run open loop at the HTTP paths' rate: the floor under h's p99 (e), and
# the sidecar's two NATS-in paths over it. The KV paths would only measure their queue there.
NATS_RATE_PATHS = ["e", "f", "g"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", required=True)
    ap.add_argument("--sizes", required=True)
    ap.add_argument("--quick", type=int, default=0)
    ap.add_argument("--rss-idle-kb", default="")
    ap.add_argument("--rss-load-kb", default="")
    ap.add_argument("--rss-hwm-kb", default="")
    ap.add_argument("--ready-ms", default="")
    ap.add_argument("--shadow", default="")
    ap.add_argument("--conns", default="64")
    ap.add_argument("--rate", default="5000")
    ap.add_argument("--rate-conns", default="32")
    ap.add_argument("--shadow-rate", default="1000")
    ap.add_argument("--inflight", default="32")
    ap.add_argument("--secs", default="5")
    ap.add_argument("--rounds", default="3")
    ap.add_argument("--hist", default="", help="the runs' latency histograms (hist/TEST-PATH-rROUND.csv)")
    ap.add_argument("--pairs", default="0")
    ap.add_argument("--pair-secs", default="3")
    a = ap.parse_args()

    runs = {}
    mirrors = {}  # test -> i's shadow outcomes per round (compared, dropped, error)
    with open(a.results) as f:
        for line in f:
            rec = json.loads(line)
            for key in ("cpu_ns", "cpu_pressure"):
                if key in rec:
                    rec["run"][key] = rec[key]
            runs.setdefault((rec["test"], rec["contender"]), []).append(rec["run"])
            if "shadow" in rec:
                mirrors.setdefault(rec["test"], []).append(rec["shadow"])

    def med(test, who, key):
        rs = runs.get((test, who))
        return statistics.median(r[key] for r in rs) if rs else None

    def spread(test, who):
        rs = runs.get((test, who))
        if not rs or len(rs) < 2:
            return ""
        v = [r["rps"] for r in rs]
        m = statistics.median(v)
        return "±%.0f%%" % (50 * (max(v) - min(v)) / m) if m else ""

    def problems(who, tests):
        errs = touts = 0
        for t in tests:
            for r in runs.get((t, who), []):
                errs += r["errors"]
                touts += r["timeouts"]
        return errs, touts

    def fmt(v, spec="%.3f"):
        return "-" if v is None else spec % v

    mode = "SMOKE RUN: checks that every path works; the numbers mean nothing" if a.quick else \
        "medians of %s round(s), %s s per run" % (a.rounds, a.secs)
    print("\n== HTTP paths (%s)" % mode)
    print("   rq/s: closed loop, %s connections | p50/p99 at 1 connection (closed loop) |"
          " p50/p99 at %s rq/s open loop over %s connections, latency from the intended send time"
          % (a.conns, a.rate, a.rate_conns))
    print("%-34s %9s %6s %9s %9s %9s %9s %8s %7s" % ("path", "rq/s", "spread", "p50@1c", "p99@1c",
                                                   "p50@rate", "p99@rate", "got/s", "err/to"))
    for who in HTTP_PATHS:
        e, t = problems(who, ["http_tput", "http_c1", "http_open"])
        print("%-34s %9s %6s %9s %9s %9s %9s %8s %7s" % (
            NAMES[who], fmt(med("http_tput", who, "rps"), "%.0f"), spread("http_tput", who),
            fmt(med("http_c1", who, "p50_ms")), fmt(med("http_c1", who, "p99_ms")),
            fmt(med("http_open", who, "p50_ms")), fmt(med("http_open", who, "p99_ms")),
            fmt(med("http_open", who, "rps"), "%.0f"), "%d/%d" % (e, t)))
    print("   h and i at %s rq/s open loop (issue 7: the primary's latency, shadow off / on): "
          "h p50/p99 %s/%s ms, i p50/p99 %s/%s ms"
          % (a.shadow_rate, fmt(med("http_open_low", "h", "p50_ms")), fmt(med("http_open_low", "h", "p99_ms")),
             fmt(med("http_open_low", "i", "p50_ms")), fmt(med("http_open_low", "i", "p99_ms"))))

    def compared_share(test):
        shares = compared_shares(mirrors, test)
        return "-" if not shares else "%.1f %%" % (100 * statistics.median(shares))
    print("   i's mirrors compared (not dropped or failed), median share per run: %s at %s rq/s, %s at %s rq/s,"
          " %s closed loop" % (compared_share("http_open"), a.rate, compared_share("http_open_low"), a.shadow_rate,
                               compared_share("http_tput")))
    pairs = pair_report(runs, mirrors, a) if int(a.pairs) > 0 else None

    print("\n== NATS paths: rq/s at %s in flight | p50/p99 sequential (1 in flight) | p50/p99 at %s rq/s"
          " open loop (%s), latency from the intended send time"
          % (a.inflight, a.rate, ", ".join(NATS_RATE_PATHS)))
    print("%-34s %9s %6s %9s %9s %9s %9s %9s %9s %7s" % (
        "path", "rq/s", "spread", "p50@N", "p99@N", "p50@1", "p99@1", "p50@rate", "p99@rate", "err/to"))
    for who in NATS_PATHS:
        e, t = problems(who, ["nats_tput", "nats_seq", "nats_open"])
        print("%-34s %9s %6s %9s %9s %9s %9s %9s %9s %7s" % (
            NAMES[who], fmt(med("nats_tput", who, "rps"), "%.0f"), spread("nats_tput", who),
            fmt(med("nats_tput", who, "p50_ms")), fmt(med("nats_tput", who, "p99_ms")),
            fmt(med("nats_seq", who, "p50_ms")), fmt(med("nats_seq", who, "p99_ms")),
            fmt(med("nats_open", who, "p50_ms")), fmt(med("nats_open", who, "p99_ms")), "%d/%d" % (e, t)))

    sizes = []
    with open(a.sizes) as f:
        sizes = [json.loads(line) for line in f if line.strip()]
    print("\n== k payload sizes, bytes (JSON as the transcoder prints it vs binary protobuf)")
    print("%-52s %8s %8s %9s %9s %7s" % ("golden step (action)", "req_json", "req_pb", "resp_json", "resp_pb",
                                         "json/pb"))
    for s in sizes:
        print("%-52s %8d %8d %9d %9d %7.2f" % (s["name"], s["request_json"], s["request_proto"],
                                               s["response_json"], s["response_proto"], s["ratio"]))
    total = next((s for s in sizes if s["name"] == "total"), None)

    def mb(kb):
        return int(kb) / 1024 if kb.strip() else None

    rss_idle = mb(a.rss_idle_kb)
    rss_load = [int(x) / 1024 for x in a.rss_load_kb.split()]
    rss_hwm = mb(a.rss_hwm_kb)
    ready = [float(x) for x in a.ready_ms.split()]
    print("\n== l native host with every port (SERVICES=all, in-memory store)")
    print("RSS idle (fixtures loaded) %s MB; after each round's NATS load %s MB; peak (VmHWM) %s MB" % (
        fmt(rss_idle, "%.1f"), " ".join("%.1f" % x for x in rss_load) or "-", fmt(rss_hwm, "%.1f")))
    print("start -> ready: %s ms (median of %d start(s): %s)" % (
        fmt(statistics.median(ready) if ready else None, "%.0f"), len(ready), " ".join("%.0f" % x for x in ready)))
    if a.shadow:
        try:
            lines = [l.strip() for l in open(a.shadow) if l.strip()]
        except OSError:
            lines = []
        print("i shadow outcomes: %s" % ("; ".join(lines) if lines else "none recorded"))

    def ratio(x, y):
        return x / y if x is not None and y else None

    rows = [
        ("d/b throughput", ratio(med("http_tput", "d", "rps"), med("http_tput", "b", "rps")), ">= 1.0x",
         lambda v: v >= 1.0, "%.2fx"),
        ("d/b' throughput (same headers)", ratio(med("http_tput", "d", "rps"), med("http_tput", "bx", "rps")),
         "(shown)", None, "%.2fx"),
        ("d/b p50 @1 connection", ratio(med("http_c1", "d", "p50_ms"), med("http_c1", "b", "p50_ms")), "<= 1.1x",
         lambda v: v <= 1.1, "%.2fx"),
        ("f/e throughput", ratio(med("nats_tput", "f", "rps"), med("nats_tput", "e", "rps")), ">= 0.5x",
         lambda v: v >= 0.5, "%.2fx"),
        ("f/e sequential p50", ratio(med("nats_seq", "f", "p50_ms"), med("nats_seq", "e", "p50_ms")), "<= 1.2x",
         lambda v: v <= 1.2, "%.2fx"),
        ("h throughput (rq/s)", med("http_tput", "h", "rps"), ">= 50000", lambda v: v >= 50000, "%.0f"),
        ("h/b throughput", ratio(med("http_tput", "h", "rps"), med("http_tput", "b", "rps")), "(shown)", None,
         "%.2fx"),
        ("h p99 @%s rq/s (ms)" % a.rate, med("http_open", "h", "p99_ms"), "< 1 ms", lambda v: v < 1.0, "%.3f"),
        # What sits under h's p99 at the same rate on the same cores: no proxy at all (a), and the
        # raw nats.c round trip that h makes once inside (e).
        ("a p99 @%s rq/s (ms)" % a.rate, med("http_open", "a", "p99_ms"), "(shown)", None, "%.3f"),
        ("e p99 @%s rq/s (ms)" % a.rate, med("nats_open", "e", "p99_ms"), "(shown)", None, "%.3f"),
        ("f/e p99 @%s rq/s" % a.rate, ratio(med("nats_open", "f", "p99_ms"), med("nats_open", "e", "p99_ms")),
         "(shown)", None, "%.2fx"),
        ("i/h p99 @%s rq/s" % a.rate, ratio(med("http_open", "i", "p99_ms"), med("http_open", "h", "p99_ms")),
         "<= 1.1x", lambda v: v <= 1.1, "%.2fx"),
        ("i/h p99 @%s rq/s" % a.shadow_rate,
         ratio(med("http_open_low", "i", "p99_ms"), med("http_open_low", "h", "p99_ms")), "<= 1.1x",
         lambda v: v <= 1.1, "%.2fx"),
        ("i/h p99 @%s, %s pairs pooled" % (a.shadow_rate, a.pairs), pairs["p99_ratio"] if pairs else None,
         "<= 1.1x", lambda v: v <= 1.1, "%.2fx"),
        ("g/e throughput", ratio(med("nats_tput", "g", "rps"), med("nats_tput", "e", "rps")), "(shown)", None,
         "%.2fx"),
        ("j/e throughput", ratio(med("nats_tput", "j", "rps"), med("nats_tput", "e", "rps")), "(shown)", None,
         "%.2fx"),
        ("f'/e throughput (KV read)", ratio(med("nats_tput", "fk", "rps"), med("nats_tput", "e", "rps")),
         "(shown)", None, "%.2fx"),
        ("j'/e throughput (mem CAS)", ratio(med("nats_tput", "jm", "rps"), med("nats_tput", "e", "rps")),
         "(shown)", None, "%.2fx"),
        ("k JSON/protobuf bytes", total["ratio"] if total else None, ">= 3x", lambda v: v >= 3.0, "%.2fx"),
        ("l RSS idle (MB)", rss_idle, "<= 30", lambda v: v <= 30, "%.1f"),
        ("l start -> ready (ms)", statistics.median(ready) if ready else None, "<= 200", lambda v: v <= 200,
         "%.0f"),
    ]
    print("\n== Ratios to the anchors and the goals (issue 8)")
    print("%-28s %10s %10s  %s" % ("figure", "measured", "goal", "status"))
    for name, value, goal, ok, spec in rows:
        if value is None:
            status = "not measured"
        elif a.quick:
            status = "smoke (not judged)"
        elif ok is None:
            status = ""
        else:
            status = "met" if ok(value) else "MISSED"
        print("%-28s %10s %10s  %s" % (name, fmt(value, spec), goal, status))

    if a.quick:
        bad = []
        for (test, who), rs in sorted(runs.items()):
            for r in rs:
                if r["requests"] == 0 or r["errors"] or r["timeouts"]:
                    bad.append("%s/%s: %d answers, %d errors %s, %d timeouts" % (
                        test, who, r["requests"], r["errors"], r["statuses"], r["timeouts"]))
        expected = {(t, w) for t in ("http_tput", "http_c1", "http_open") for w in HTTP_PATHS}
        expected |= {(t, w) for t in ("nats_tput", "nats_seq") for w in NATS_PATHS}
        expected |= {("nats_open", w) for w in NATS_RATE_PATHS}
        expected |= {("http_open_low", w) for w in ("h", "i")}
        missing = sorted(expected - set(runs))
        if missing:
            bad.append("no result for " + ", ".join("%s/%s" % m for m in missing))
        if not total or total["request_proto"] == 0:
            bad.append("k: no payload sizes")
        if rss_idle is None or not ready:
            bad.append("l: no RSS or ready time")
        if bad:
            print("\nSMOKE FAILED:\n  " + "\n  ".join(bad))
            return 1
        print("\nsmoke ok: every path answered without errors or timeouts")
    return 0


def compared_shares(mirrors, test):
    """Per run of `test`, the share of i's mirrors that were compared (not dropped, paused or failed)."""
    return [m["compared"] / max(1, m["compared"] + m["dropped"] + m["error"]) for m in mirrors.get(test, [])]


def read_histogram(path):
    """{(low_ns, high_ns): count} from a sidecar-load --histogram-out CSV."""
    h = collections.Counter()
    with open(path) as f:
        for line in f:
            if line.startswith("#") or line.startswith("low_ns"):
                continue
            lo, hi, count, _ = line.split(",")
            h[(int(lo), int(hi))] += int(count)
    return h


def quantile_ms(h, q):
    """The upper bound (ms) of the bucket that holds quantile q of histogram h."""
    total = sum(h.values())
    seen = 0
    for (lo, hi), count in sorted(h.items()):
        seen += count
        if seen >= q * total:
            return hi / 1e6
    return None


def pair_report(runs, mirrors, a):
    """Issue 7's figure from the pairs: pooled p50/p99 of h and i, the i/h p99 ratio with a bootstrap
    interval over pairs, the serving sidecar's CPU per request, and the share of i's mirrors compared."""
    hists = {}
    for who in ("h", "i"):
        for path in glob.glob(os.path.join(a.hist, "http_pair-%s-r*.csv" % who)):
            k = int(path.rsplit("-r", 1)[1].split(".")[0])
            hists.setdefault(k, {})[who] = read_histogram(path)
    pairs = sorted(k for k, both in hists.items() if len(both) == 2)
    if not pairs:
        print("   pairs: no histograms in %s" % a.hist)
        return None

    def pooled(keys, who):
        h = collections.Counter()
        for k in keys:
            h.update(hists[k][who])
        return h

    h, i = pooled(pairs, "h"), pooled(pairs, "i")
    ratio = quantile_ms(i, 0.99) / quantile_ms(h, 0.99)
    # Resampling whole pairs keeps each pair's h and i together, as they ran minutes apart from the
    # other pairs but seconds apart from each other.
    rng = random.Random(7)
    boot = sorted(quantile_ms(pooled(s, "i"), 0.99) / quantile_ms(pooled(s, "h"), 0.99)
                  for s in ([rng.choice(pairs) for _ in pairs] for _ in range(1000)))
    low, high = boot[50], boot[949]

    def cpu_us(who, key):
        cpu = n = 0.0
        for r in runs.get(("http_pair", who), []):
            c = r.get("cpu_ns")
            if not c or not r["elapsed_s"]:
                continue
            cpu += c[key] / 1e3
            n += r["requests"] * (r["elapsed_s"] + c["warmup_s"]) / r["elapsed_s"]
        return cpu / n if n else None

    def pressure(who):
        p = [r["cpu_pressure"] for r in runs.get(("http_pair", who), []) if "cpu_pressure" in r]
        return "-" if not p else "%.1f %%" % (100 * statistics.median(p))

    shares = compared_shares(mirrors, "http_pair")
    print("   issue 7, %d pairs of %s s runs of h then i (order alternating) at %s rq/s, histograms pooled:"
          % (len(pairs), a.pair_secs, a.shadow_rate))
    print("     h p50/p99 %.3f/%.3f ms (%d samples), i p50/p99 %.3f/%.3f ms (%d samples); i/h p99 %.2fx,"
          " 90 %% bootstrap interval over pairs %.2f-%.2fx" % (
              quantile_ms(h, 0.5), quantile_ms(h, 0.99), sum(h.values()), quantile_ms(i, 0.5),
              quantile_ms(i, 0.99), sum(i.values()), ratio, low, high))
    fmt = lambda v: "-" if v is None else "%.1f" % v
    print("     serving sidecar's CPU per request, us: request loop (main thread) h %s, i %s; all threads h %s, i %s;"
          " i's mirrors compared %s" % (
              fmt(cpu_us("h", "loop")), fmt(cpu_us("i", "loop")), fmt(cpu_us("h", "all")), fmt(cpu_us("i", "all")),
              "-" if not shares else "%.1f %%" % (100 * sum(shares) / len(shares))))
    print("     CPU pressure (share of the run's time some task waited for a core, PSI), median per run: h %s, i %s"
          % (pressure("h"), pressure("i")))
    return {"p99_ratio": ratio, "low": low, "high": high}


if __name__ == "__main__":
    sys.exit(main())
