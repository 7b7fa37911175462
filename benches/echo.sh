#!/usr/bin/env bash
# The echo benchmark: every echo server of benches/src/bin/echo_*.rs,
# each in its own child process, against the one load generator
# (benches/src/bin/loadgen.rs), for every combination of
#
#   core mode  same  (server and load generator pinned to one core) and
#              split (server on one core, load generator on the other)
#   C          connections, $CONNS (default "64 1000")
#   B          message bytes, $SIZES (default "64 16384")
#
# RUNS times (default 3; the servers take turns inside a run, so host
# drift hits them alike), then prints per figure the min / median / max
# of round trips/s, the medians of p50 / p99 latency, of the server's
# CPU time per round trip and of its involuntary context switches
# (preemptions) per round trip, and the ratios to the hand-written mio
# loop (median over the runs of figure / mio's figure of the same run).
#
#   bash benches/echo.sh                          # from the workspace root
#   SECS=2 WARMUP=0.5 RUNS=3 CONNS="64 1000 10000" bash benches/echo.sh
#   SERVERS="mio green" MODES=same bash benches/echo.sh
#   SERVERS="mio tokio_ct:multi" ...              # NAME:ARG passes ARG to the server
#   LOADGEN_SCHED=batch ...                       # the load generator as SCHED_BATCH
#   GREEN_BASE_BIN=/tmp/echo_green SERVERS="mio green green_base" ...
#                                                 # A/B: another build as green_base
#
# LOADGEN_SCHED=batch runs the load generator under `chrt -b 0`: its
# wake-ups then never preempt the server (the kernel skips wake-up
# preemption for SCHED_BATCH tasks), which takes out of the same-core
# figures the scheduler's ping-pong (see docs/PERFORMANCE.md, "Where the 16 KiB gap is");
# the server's own cost per round trip is what remains.
#
# The raw lines go to $CARGO_TARGET_DIR/echo-results.txt (or target/).
set -euo pipefail

cd "$(dirname "$0")/.."
runs="${RUNS:-3}"
secs="${SECS:-2}"
warmup="${WARMUP:-0.5}"
conns_list="${CONNS:-64 1000}"
sizes="${SIZES:-64 16384}"
modes="${MODES:-same split}"
servers="${SERVERS:-mio green tokio_ct tokio_mt may threads}"
target="${CARGO_TARGET_DIR:-target}"
bin="$target/release"
results="$target/echo-results.txt"

cargo build --release -p green-benches --bins >&2

need_fds=0
for c in $conns_list; do ((c + 64 > need_fds)) && need_fds=$((c + 64)); done
# shellcheck source=benches/echo-lib.sh
source benches/echo-lib.sh
raise_fd_limit "$need_fds"

server_cmd() {
    case "${1%%:*}" in
    mio) echo "$bin/echo_mio" ;;
    green) echo "$bin/echo_green" ;;
    green_base) echo "${GREEN_BASE_BIN:?green_base needs GREEN_BASE_BIN}" ;;
    tokio_ct) echo "$bin/echo_tokio" ;;
    tokio_mt) echo "$bin/echo_tokio" ;;
    may) echo "$bin/echo_may" ;;
    threads) echo "$bin/echo_threads" ;;
    *) echo "unknown server $1" >&2; exit 1 ;;
    esac
}

# One measurement: prints the load generator's line, or "failed".
measure() { # server mode conns size
    local name="$1" mode="$2" conns="$3" size="$4" out pid addr extra=() scpu=1 ccpu=0
    [[ "$name" == tokio_mt ]] && extra=(multi)
    [[ "$name" == *:* ]] && extra+=("${name#*:}")
    [[ "$mode" == same ]] && ccpu=1
    out="$(mktemp)"
    taskset -c "$scpu" "$(server_cmd "$name")" 127.0.0.1:0 "${extra[@]}" >"$out" 2>&1 &
    pid=$!
    for _ in $(seq 100); do grep -q '^listening on ' "$out" && break; sleep 0.05; done
    addr="$(sed -n 's/^listening on //p' "$out" | head -1)"
    if [[ -z "$addr" ]] || ! "${loadgen_wrap[@]}" "$bin/loadgen" "$addr" --conns "$conns" --size "$size" \
        --secs "$secs" --warmup "$warmup" --pin "$ccpu" --server-pid "$pid" 2>&1; then
        echo "failed"
    fi
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    rm -f "$out"
}

: >"$results"
for run in $(seq 1 "$runs"); do
    for mode in $modes; do
        for conns in $conns_list; do
            for size in $sizes; do
                for name in $servers; do
                    line="$(measure "$name" "$mode" "$conns" "$size")"
                    echo "run=$run mode=$mode server=$name $line" | tee -a "$results" >&2
                done
            done
        done
    done
done

echo
echo "echo: $runs runs of ${secs} s (after ${warmup} s warm-up); rt/s min / median / max;"
echo "latency, server CPU (all, and its user part) and involuntary switches (preemptions) per round trip: medians;"
echo "ratios: median of figure / mio's figure in the same run${LOADGEN_SCHED:+; load generator: SCHED_${LOADGEN_SCHED^^}}"
awk '
function sort(a, n,   i, j, t) { for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j+1] = a[j]; a[j+1] = t } }
function med(a, n) { sort(a, n); return n ? a[int((n + 1) / 2)] : "nan" }
{
    delete f
    for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
    if (!("rt_per_s" in f)) { failed[f["mode"], f["conns"] ? f["conns"] : "?", f["server"]]++; next }
    key = f["mode"] SUBSEP f["conns"] SUBSEP f["size"]
    if (!(key in seenk)) { seenk[key] = 1; keys[++nk] = key }
    s = f["server"]
    if (!(s in seens)) { seens[s] = 1; srv[++ns] = s }
    r = f["run"]
    rt[key, s, r] = f["rt_per_s"]; p50[key, s, r] = f["p50_us"]; p99[key, s, r] = f["p99_us"]
    cpu[key, s, r] = f["server_cpu_us_per_rt"]
    usr[key, s, r] = ("server_user_us_per_rt" in f) ? f["server_user_us_per_rt"] : "-"
    nv[key, s, r] = ("server_nvcsw_per_rt" in f) ? f["server_nvcsw_per_rt"] : "-"
    if (r > nr) nr = r
}
END {
    printf "%-5s %6s %6s %-14s %9s %9s %9s %6s %8s %8s %8s %6s %8s %6s %8s\n", "mode", "C", "B", "server", "rt/s min", "median", "max", "xmio", "p50 us", "p99 us", "cpu us", "xmio", "user us", "xmio", "preempt"
    for (k = 1; k <= nk; k++) {
        key = keys[k]; split(key, kp, SUBSEP)
        for (j = 1; j <= ns; j++) {
            s = srv[j]; n = 0; m = 0; q = 0; v = 0; u = 0; mu = 0; delete xs; delete rr; delete a50; delete a99; delete ac; delete rc; delete an; delete au; delete ru
            for (r = 1; r <= nr; r++) {
                if (!((key, s, r) in rt)) continue
                xs[++n] = rt[key, s, r]; a50[n] = p50[key, s, r]; a99[n] = p99[key, s, r]
                if (cpu[key, s, r] != "-") ac[++q] = cpu[key, s, r]
                if (nv[key, s, r] != "-") an[++v] = nv[key, s, r]
                if (usr[key, s, r] != "-") au[++u] = usr[key, s, r]
                if (usr[key, s, r] != "-" && ((key, "mio", r) in usr) && usr[key, "mio", r] > 0) ru[++mu] = usr[key, s, r] / usr[key, "mio", r]
                if ((key, "mio", r) in rt && rt[key, "mio", r] > 0) {
                    rr[++m] = rt[key, s, r] / rt[key, "mio", r]
                    if (cpu[key, s, r] != "-" && cpu[key, "mio", r] > 0) rc[m] = cpu[key, s, r] / cpu[key, "mio", r]
                }
            }
            if (!n) continue
            sort(xs, n)
            printf "%-5s %6s %6s %-14s %9.0f %9.0f %9.0f %6.2f %8.1f %8.1f %8.3f %6.2f %8s %6s %8s\n", kp[1], kp[2], kp[3], s, xs[1], xs[int((n + 1) / 2)], xs[n], med(rr, m), med(a50, n), med(a99, n), med(ac, q), med(rc, m), u ? sprintf("%.3f", med(au, u)) : "-", mu ? sprintf("%.2f", med(ru, mu)) : "-", v ? sprintf("%.3f", med(an, v)) : "-"
        }
    }
}' "$results"
if grep -q failed "$results"; then
    echo
    echo "failed measurements:"
    grep failed "$results"
fi
