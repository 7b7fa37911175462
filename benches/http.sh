#!/usr/bin/env bash
# The HTTP/1.1 plaintext benchmark: `wrk` against every hello server, each
# in its own child process:
#
#   green     examples/http_hello.rs (a greenlet per connection)
#   mio       benches/src/bin/http_mio.rs, the hand-written floor
#   tokio     benches/src/bin/http_tokio.rs (current-thread, raw httparse loop)
#   hyper     benches/src/bin/http_hyper.rs (current-thread + hyper 1.x)
#   may       benches/src/bin/http_may.rs (1 worker, raw httparse loop)
#
# for every combination of
#
#   mode  plain     (one request per write, wait for the answer, repeat) and
#         pipelined (16 requests per write: a wrk Lua script concatenating
#                    16 x wrk.format())
#   C     connections, $CONNS (default "64 256")
#
# Server and wrk are both pinned to CPU 1 (`taskset -c 1`, `wrk -t1`): on
# this machine's two virtual cores the server's CPU time per request with
# both on one core is the steadiest cost figure (issue 5). The server's CPU
# time is utime + stime of /proc/PID/stat (all its threads) read just
# before and just after the measured wrk run; divided by the requests wrk
# completed it is the "CPU us/req" column.
#
# RUNS times (default 3; the servers take turns inside a run, so host drift
# hits them alike), then prints per figure the min / median / max of
# requests/s, the median server CPU per request, and the ratios to the mio
# loop (median over the runs of figure / mio's figure of the same run).
#
#   bash benches/http.sh                          # from the workspace root
#   RUNS=3 SECS=5 CONNS="64 256" bash benches/http.sh
#   SERVERS="mio green" MODES=pipelined bash benches/http.sh
#
# Knobs: SERVERS, MODES (plain pipelined), CONNS (64 256), SECS (5, whole
# seconds: wrk's unit), WARMUP (1; a wrk run before the measured one, 0 for
# none), RUNS (3), DEPTH (16, the pipelining depth), CPU (1, the core),
# GREEN_BIN (another build of the http_hello example to measure as green,
# e.g. one of another commit; default the one built here), GREEN_BASE_BIN
# (a build to measure beside it as the server `green_base`, for an A/B
# in one run).
# The raw lines go to $CARGO_TARGET_DIR/http-results.txt (or target/).
set -euo pipefail

cd "$(dirname "$0")/.."
runs="${RUNS:-3}"
secs="${SECS:-5}"
warmup="${WARMUP:-1}"
conns_list="${CONNS:-64 256}"
modes="${MODES:-plain pipelined}"
servers="${SERVERS:-mio green tokio hyper may}"
depth="${DEPTH:-16}"
cpu="${CPU:-1}"
target="${CARGO_TARGET_DIR:-target}"
bin="$target/release"
results="$target/http-results.txt"
tck="$(getconf CLK_TCK)"

if ! command -v wrk >/dev/null; then
    echo "installing wrk" >&2
    apt-get install -y wrk >&2 || { apt-get update >&2 && apt-get install -y wrk >&2; }
fi
cargo build --release -p green-benches --bin http_mio --bin http_tokio --bin http_hyper --bin http_may >&2
cargo build --release --example http_hello >&2

need_fds=0
for c in $conns_list; do ((c + 64 > need_fds)) && need_fds=$((c + 64)); done
if (($(ulimit -n) < need_fds)); then
    ulimit -n "$need_fds" 2>/dev/null || {
        echo "the file descriptor limit $(ulimit -n) is below $need_fds: lower CONNS" >&2
        exit 1
    }
fi

tmp="$(mktemp -d)"
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The pipelining script: one write carries $depth requests; wrk counts the
# requests in it and waits for as many answers.
cat >"$tmp/pipeline.lua" <<EOF
init = function(args)
    local r = {}
    for i = 1, $depth do
        r[i] = wrk.format()
    end
    req = table.concat(r)
end

request = function()
    return req
end
EOF

server_cmd() {
    case "$1" in
    green) echo "${GREEN_BIN:-$bin/examples/http_hello}" ;;
    green_base) echo "${GREEN_BASE_BIN:?green_base needs GREEN_BASE_BIN}" ;;
    mio) echo "$bin/http_mio" ;;
    tokio) echo "$bin/http_tokio" ;;
    hyper) echo "$bin/http_hyper" ;;
    may) echo "$bin/http_may" ;;
    *) echo "unknown server $1" >&2; exit 1 ;;
    esac
}

# utime + stime of process $1 in clock ticks.
cpu_ticks() {
    local stat
    stat="$(cat "/proc/$1/stat")"
    stat="${stat##*) }" # fields from 3 (state) on; the name may hold spaces
    awk '{ print $12 + $13 }' <<<"$stat"
}

# Checks that the server at $1 answers a plain GET and $depth pipelined
# requests (the last asking to close) with `Hello, World!` each; prints
# what is wrong, nothing if all is right.
check() {
    local addr="$1" body n i req=""
    body="$(curl -s --max-time 5 "http://$addr/")" || true
    [[ "$body" == "Hello, World!" ]] || { echo "GET / answered '${body:0:60}'"; return; }
    for ((i = 1; i < depth; i++)); do req+=$'GET / HTTP/1.1\r\nHost: x\r\n\r\n'; done
    req+=$'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'
    n="$(exec 3<>"/dev/tcp/${addr%:*}/${addr##*:}" && printf '%s' "$req" >&3 &&
        timeout 5 cat <&3 | grep -o 'Hello, World!' | wc -l)" || true
    [[ "$n" == "$depth" ]] || echo "$depth pipelined requests got $n answers"
}

# One measurement: prints `key=value ...` fields, or `failed=why`. Runs in
# this shell (not a subshell), so the EXIT trap knows the server's PID.
measure() { # server mode conns
    local name="$1" mode="$2" conns="$3" out pid addr script=() wrkout t0 t1 bad
    [[ "$mode" == pipelined ]] && script=(-s "$tmp/pipeline.lua")
    out="$tmp/server.out"
    taskset -c "$cpu" "$(server_cmd "$name")" 127.0.0.1:0 >"$out" 2>&1 &
    pid=$!
    pids+=("$pid")
    for _ in $(seq 600); do
        grep -q '^listening on ' "$out" && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    addr="$(sed -n 's/^listening on //p' "$out" | head -1)"
    if [[ -z "$addr" ]]; then
        local status=running
        kill -0 "$pid" 2>/dev/null || { wait "$pid" && status=0 || status=$?; }
        echo "failed=no-listening-line(status:$status,output:$(head -c 200 "$out"))" | tr ' \n' '__'
        echo
    elif bad="$(check "$addr")" && [[ -n "$bad" ]]; then
        echo "failed=wrong-answer($bad)" | tr ' ' '_'
    else
        if ((warmup > 0)); then
            taskset -c "$cpu" wrk -t1 -c"$conns" -d"${warmup}s" "${script[@]}" "http://$addr/" >/dev/null 2>&1 || true
        fi
        t0="$(cpu_ticks "$pid" 2>/dev/null)" || t0=""
        wrkout="$(taskset -c "$cpu" wrk -t1 -c"$conns" -d"${secs}s" "${script[@]}" "http://$addr/" 2>&1)" || true
        t1="$(cpu_ticks "$pid" 2>/dev/null)" || t1=""
        [[ -n "$t0" && -n "$t1" ]] || wrkout="the server exited"
        awk -v t0="$t0" -v t1="$t1" -v tck="$tck" -v load="$(cut -d' ' -f1 /proc/loadavg)" '
            / requests in / { reqs = $1 }
            /^Requests\/sec:/ { rps = $2 }
            /Socket errors:/ { for (i = 3; i <= NF; i += 2) { v = $(i + 1); sub(/,$/, "", v); errs += v } }
            /Non-2xx or 3xx responses:/ { errs += $NF }
            END {
                if (!reqs) { print "failed=wrk-ran-no-requests"; exit }
                cpu_us = (t1 - t0) * 1e6 / tck
                printf "reqs=%d rps=%.0f cpu_ticks=%d cpu_us_per_req=%.4f errors=%d load=%s\n", reqs, rps, t1 - t0, cpu_us / reqs, errs, load
            }' <<<"$wrkout"
    fi
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

: >"$results"
for run in $(seq 1 "$runs"); do
    for mode in $modes; do
        for conns in $conns_list; do
            for name in $servers; do
                # A server that did not come up or answered wrong gets two
                # more tries (each try's failure is logged).
                for try in 1 2 3; do
                    measure "$name" "$mode" "$conns" >"$tmp/line"
                    line="$(cat "$tmp/line")"
                    [[ "$line" == failed=* && $try -lt 3 ]] || break
                    echo "run=$run mode=$mode conns=$conns server=$name try=$try $line" >&2
                done
                echo "run=$run mode=$mode conns=$conns server=$name $line" | tee -a "$results" >&2
            done
        done
    done
done

echo
echo "http: $runs runs of ${secs} s (after ${warmup} s warm-up), server and wrk -t1 on CPU $cpu,"
echo "pipelined = $depth requests per write; req/s min / median / max; server CPU per request: median;"
echo "ratios: median over the runs of figure / mio's figure in the same run; errs: wrk's socket errors + non-2xx, summed"
awk '
function sort(a, n,   i, j, t) { for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j+1] = a[j]; a[j+1] = t } }
function med(a, n) { sort(a, n); return n ? a[int((n + 1) / 2)] : "nan" }
{
    delete f
    for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
    if (!("rps" in f)) next
    key = f["mode"] SUBSEP f["conns"]
    if (!(key in seenk)) { seenk[key] = 1; keys[++nk] = key }
    s = f["server"]
    if (!(s in seens)) { seens[s] = 1; srv[++ns] = s }
    r = f["run"]
    rps[key, s, r] = f["rps"]; cpu[key, s, r] = f["cpu_us_per_req"]
    errs[key, s] += f["errors"]
    if (r > nr) nr = r
}
END {
    printf "%-9s %5s %-6s %9s %9s %9s %6s %8s %6s %5s\n", "mode", "C", "server", "req/s min", "median", "max", "xmio", "cpu us", "xmio", "errs"
    for (k = 1; k <= nk; k++) {
        key = keys[k]; split(key, kp, SUBSEP)
        for (j = 1; j <= ns; j++) {
            s = srv[j]; n = 0; m = 0; delete xs; delete rr; delete ac; delete rc
            for (r = 1; r <= nr; r++) {
                if (!((key, s, r) in rps)) continue
                xs[++n] = rps[key, s, r]; ac[n] = cpu[key, s, r]
                if ((key, "mio", r) in rps && rps[key, "mio", r] > 0 && cpu[key, "mio", r] > 0) {
                    rr[++m] = rps[key, s, r] / rps[key, "mio", r]
                    rc[m] = cpu[key, s, r] / cpu[key, "mio", r]
                }
            }
            if (!n) continue
            sort(xs, n)
            e = errs[key, s] ? errs[key, s] " !" : "0"
            printf "%-9s %5s %-6s %9.0f %9.0f %9.0f %6.2f %8.3f %6.2f %5s\n", kp[1], kp[2], s, xs[1], xs[int((n + 1) / 2)], xs[n], med(rr, m), med(ac, n), med(rc, m), e
        }
    }
}' "$results"
if grep -q failed= "$results"; then
    echo
    echo "failed measurements:"
    grep failed= "$results"
fi
