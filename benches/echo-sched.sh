#!/usr/bin/env bash
# How the scheduler interleaves an echo server and the load generator on
# one core: for each server, a short `perf record` of the core's context
# switches and of both processes' sendto calls in the middle of a run,
# summarised per *run* (a stretch on the CPU between two switches).
#
#   bash benches/echo-sched.sh                    # from the workspace root, as root
#   SERVERS="mio green tokio_ct" CONNS=1000 SIZE=16384 CPU=1 bash benches/echo-sched.sh
#   LOADGEN_SCHED=batch bash benches/echo-sched.sh   # load generator as SCHED_BATCH
#
# A server run that ends in a preemption after at most 2 sendto calls is
# counted as "ping-pong": the load generator, woken by the server's write,
# preempts it at once, reads what there is (half a message when B = 16 KiB
# is echoed in 8 KiB writes) and sleeps again. Longer runs are "batch".
# Per kind it prints the runs, the CPU time, the sendto calls and the time
# per sendto, for the server and the load generator, and per round trip
# (one load generator sendto is one round trip) the preemptions of the
# server. See docs/PERFORMANCE.md, "Where the 16 KiB gap is" for what the figures mean.
#
# Needs `perf` with tracepoint access (root). The window is WINDOW
# seconds (default 0.2) after 1.5 s of load; the trace files stay in
# $CARGO_TARGET_DIR/echo-sched/ (or target/).
set -euo pipefail

cd "$(dirname "$0")/.."
servers="${SERVERS:-mio green}"
conns="${CONNS:-1000}"
size="${SIZE:-16384}"
cpu="${CPU:-1}"
window="${WINDOW:-0.2}"
target="${CARGO_TARGET_DIR:-target}"
bin="$target/release"
out="$target/echo-sched"
mkdir -p "$out"

cargo build --release -p green-benches --bins >&2

# shellcheck source=benches/echo-lib.sh
source benches/echo-lib.sh
raise_fd_limit $((conns + 64))

for name in $servers; do
    args=()
    case "$name" in
    mio) cmd="$bin/echo_mio" ;;
    green) cmd="$bin/echo_green" ;;
    tokio_ct) cmd="$bin/echo_tokio" ;;
    tokio_mt) cmd="$bin/echo_tokio"; args=(multi) ;;
    may) cmd="$bin/echo_may" ;;
    threads) cmd="$bin/echo_threads" ;;
    *) echo "unknown server $name" >&2; exit 1 ;;
    esac
    log="$out/$name.server.txt"
    taskset -c "$cpu" "$cmd" 127.0.0.1:0 "${args[@]}" >"$log" 2>&1 &
    spid=$!
    for _ in $(seq 100); do grep -q '^listening on ' "$log" && break; sleep 0.05; done
    addr="$(sed -n 's/^listening on //p' "$log" | head -1)"
    "${loadgen_wrap[@]}" "$bin/loadgen" "$addr" --conns "$conns" --size "$size" --secs 2 \
        --warmup 1 --pin "$cpu" --server-pid "$spid" >"$out/$name.loadgen.txt" 2>&1 &
    lpid=$!
    sleep 1.5
    perf record -q -C "$cpu" -o "$out/$name.data" -e sched:sched_switch \
        -e syscalls:sys_exit_sendto -- sleep "$window" 2>/dev/null
    wait "$lpid" || true
    kill "$spid" 2>/dev/null || true
    wait "$spid" 2>/dev/null || true
    # The thread that runs the connections: the main thread, except in
    # tokio's multi-threaded runtime (its workers' name, cut to 15 bytes).
    srv_comm="$(basename "$cmd" | cut -c1-15)"
    [[ "$name" == tokio_mt ]] && srv_comm="tokio-runtime-w"
    echo
    echo "$name (C = $conns, B = $size, CPU $cpu${LOADGEN_SCHED:+, load generator SCHED_${LOADGEN_SCHED^^}}): $(cat "$out/$name.loadgen.txt")"
    perf script -i "$out/$name.data" -F comm,time,event,trace 2>/dev/null | awk -v srv="$srv_comm" '
    function close_run(prev, state, t,   who, kind) {
        if (last == "") return
        if (prev == srv) who = "server"; else if (prev == "loadgen") who = "loadgen"; else return
        lim = who == "server" ? 2 : 1
        kind = sends[who] <= lim ? "ping-pong" : "batch"
        runs[who, kind]++; time[who, kind] += t - last; nsend[who, kind] += sends[who]
        if (who == "server" && state == "R") preempt++
    }
    {
        t = $2; sub(/:$/, "", t)
        if ($3 ~ /sched_switch/) {
            prev = ""; state = ""
            for (i = 4; i <= NF; i++) {
                if ($i ~ /^prev_comm=/) { prev = substr($i, 11) }
                if ($i ~ /^prev_state=/) { state = substr($i, 12) }
            }
            close_run(prev, state, t)
            last = t; sends["server"] = 0; sends["loadgen"] = 0
        } else if ($3 ~ /sys_exit_sendto/) {
            if ($1 == srv) sends["server"]++; else if ($1 == "loadgen") sends["loadgen"]++
        }
    }
    END {
        printf "  %-8s %-10s %7s %9s %8s %10s\n", "task", "runs", "count", "CPU ms", "sendto", "us/sendto"
        split("server loadgen", who, " "); split("batch ping-pong", kinds, " ")
        for (w = 1; w <= 2; w++) for (k = 1; k <= 2; k++) {
            key = who[w] SUBSEP kinds[k]
            printf "  %-8s %-10s %7d %9.2f %8d %10.3f\n", who[w], kinds[k], runs[key], time[key] * 1000, nsend[key], nsend[key] ? time[key] * 1e6 / nsend[key] : 0
        }
        rt = nsend["loadgen", "batch"] + nsend["loadgen", "ping-pong"]
        if (rt) printf "  server preemptions per round trip: %.3f (%d in %d round trips)\n", preempt / rt, preempt, rt
    }'
done
