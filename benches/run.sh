#!/usr/bin/env bash
# Runs every benchmark of green RUNS times (default 3) and prints, per
# figure, the min / median / max of criterion's per-run median, and its
# ratio to the baseline measured in the same run (median of the per-run
# ratios). Then runs the RSS benchmark, which does its own runs.
#
#   bash benches/run.sh            # from the workspace root
#   RUNS=5 bash benches/run.sh
#   BENCHES=sync bash benches/run.sh   # only these criterion benches, no rss
#
# Baselines: switch/* against switch/corosensei_resume_suspend;
# spawn_join/* against spawn_join/green_main (so the peers' column reads
# "how many times green's time"); sync/*, sync_queue/* and sync_fast/*
# against sync/green_yield_now_round_trip (two greenlets yielding once
# each).
set -euo pipefail

cd "$(dirname "$0")/.."
runs="${RUNS:-3}"
benches="${BENCHES:-switch spawn sync}"
target="${CARGO_TARGET_DIR:-target}"
crit="$target/criterion"
results="$(mktemp)"
trap 'rm -f "$results"' EXIT

# Build once, then run the same executables every time: the figures of all
# runs come from one build.
built="$(cargo bench -p green-benches --no-run 2>&1 | tee /dev/stderr)"
exe() {
    grep -oE "\(([^()]*/deps/$1-[0-9a-f]+)\)" <<<"$built" | tr -d '()' | tail -1
}
rss="$(exe rss)"
# criterion writes its estimates under the working directory's target dir.
export CRITERION_HOME="$crit"

for run in $(seq 1 "$runs"); do
    echo "== run $run of $runs" >&2
    rm -rf "$crit"
    for bench in $benches; do
        "$(exe "$bench")" --bench --noplot >&2
    done
    for est in "$crit"/*/new/estimates.json; do
        id="$(grep -o '"title":"[^"]*"' "$(dirname "$est")/benchmark.json" | head -1 | cut -d'"' -f4)"
        median="$(grep -oE '"median":\{"confidence_interval":\{[^}]*\},"point_estimate":[0-9.eE+-]+' "$est" |
            grep -oE '[0-9.eE+-]+$')"
        echo "$run $id $median" >>"$results"
    done
done

echo
echo "Times in ns per iteration: min / median / max of criterion's median over $runs runs"
awk '
function fmt(v) { return v >= 10000 ? sprintf("%.0f", v) : (v >= 100 ? sprintf("%.1f", v) : sprintf("%.2f", v)) }
function sort(a, n,   i, j, t) { for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j+1] = a[j]; a[j+1] = t } }
{
    run = $1; id = $2; v = $3
    val[id, run] = v
    if (!(id in seen)) { seen[id] = 1; order[++nid] = id }
    if (run > nrun) nrun = run
}
END {
    printf "%-42s %10s %10s %10s %12s\n", "benchmark", "min", "median", "max", "ratio"
    for (k = 1; k <= nid; k++) {
        id = order[k]
        split(id, parts, "/")
        base = parts[1] == "switch" ? "switch/corosensei_resume_suspend" : \
            parts[1] == "spawn_join" ? "spawn_join/green_main" : "sync/green_yield_now_round_trip"
        n = 0; m = 0
        for (r = 1; r <= nrun; r++) {
            if ((id, r) in val) {
                xs[++n] = val[id, r]
                if ((base, r) in val) rs[++m] = val[id, r] / val[base, r]
            }
        }
        sort(xs, n); sort(rs, m)
        ratio = m ? sprintf("%.2fx", rs[int((m + 1) / 2)]) : "-"
        printf "%-42s %10s %10s %10s %12s\n", id, fmt(xs[1]), fmt(xs[int((n + 1) / 2)]), fmt(xs[n]), ratio
    }
}' "$results"

if [ -z "${BENCHES:-}" ]; then
    echo
    "$rss"
fi
