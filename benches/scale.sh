#!/usr/bin/env bash
# A million sleepers against the kernel's floor, side by side: per run,
# `idle green sleep N`, `idle tokio sleep N` and `page_floor` in its
# `stacks` (green's guards and committed stack tops) and `contig` (the
# cheapest N fresh pages) modes, one after the other. Prints, per figure,
# the min / median / max over RUNS runs, and green's time as a multiple
# of each floor (median of the per-run ratios).
#
#   bash benches/scale.sh              # from the workspace root
#   N=200000 RUNS=5 bash benches/scale.sh
set -euo pipefail

cd "$(dirname "$0")/.."
runs="${RUNS:-3}"
n="${N:-1000000}"
target="${CARGO_TARGET_DIR:-target}"
cargo build --release -p green-benches --bin idle --bin page_floor >&2
bin="$target/release"
results="$(mktemp)"
trap 'rm -f "$results"' EXIT

# One `run figure seconds [kib_each]` line per measurement.
field() { grep -oE "(^| )$1=[^ ]+" | cut -d= -f2; }
for run in $(seq 1 "$runs"); do
    echo "== run $run of $runs" >&2
    for peer in green tokio; do
        out="$("$bin/idle" "$peer" sleep "$n")"
        echo "$out" >&2
        echo "$run $peer $(field all_running_s <<<"$out") $(field kib_each <<<"$out")" >>"$results"
    done
    for mode in stacks contig; do
        out="$("$bin/page_floor" "$mode" "$n")"
        echo "$out" >&2
        echo "$run floor_$mode $(field secs <<<"$out") -" >>"$results"
    done
done

echo
echo "$n sleepers: seconds until all have run (min / median / max over $runs runs)"
awk '
function sort(a, n,   i, j, t) { for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j+1] = a[j]; a[j+1] = t } }
{
    val[$2, $1] = $3; kib[$2] = $4
    if (!($2 in seen)) { seen[$2] = 1; order[++nid] = $2 }
    if ($1 > nrun) nrun = $1
}
END {
    # green over each floor, per run; the median is printed.
    for (r = 1; r <= nrun; r++) {
        s1[r] = val["green", r] / val["floor_stacks", r]
        s2[r] = val["green", r] / val["floor_contig", r]
    }
    sort(s1, nrun); sort(s2, nrun)
    m = int((nrun + 1) / 2)
    printf "%-14s %8s %8s %8s %10s %16s %16s\n", "figure", "min", "median", "max", "KiB each", "green/stacks", "green/contig"
    for (k = 1; k <= nid; k++) {
        id = order[k]
        for (r = 1; r <= nrun; r++) xs[r] = val[id, r]
        sort(xs, nrun)
        printf "%-14s %8.3f %8.3f %8.3f %10s %16s %16s\n", id, xs[1], xs[m], xs[nrun], kib[id], \
            (id == "green" ? sprintf("%.2fx", s1[m]) : ""), (id == "green" ? sprintf("%.2fx", s2[m]) : "")
    }
}' "$results"
