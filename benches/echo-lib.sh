# Shared by echo.sh and echo-sched.sh (sourced, not run).

# Raises the open-file limit to $1 or exits with a clear message.
raise_fd_limit() {
    local need="$1"
    if (($(ulimit -n) < need)); then
        ulimit -n "$need" 2>/dev/null || {
            echo "the file descriptor limit $(ulimit -n) is below $need: lower CONNS" >&2
            exit 1
        }
    fi
}

# Sets loadgen_wrap from LOADGEN_SCHED: empty (default scheduling) or
# `batch` (the load generator under `chrt -b 0`, so its wake-ups never
# preempt the server).
loadgen_wrap=()
case "${LOADGEN_SCHED:-}" in
"") ;;
batch) loadgen_wrap=(chrt -b 0) ;;
*) echo "LOADGEN_SCHED must be empty or batch" >&2; exit 1 ;;
esac
