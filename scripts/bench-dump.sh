#!/usr/bin/env bash
# Dump benchmark: every goroutine of a program with N parked goroutines
# (default 10,000), side by side:
#   grt-tui dump <pid>          the inspector, from outside (freeze, copy, thaw, unwind, format)
#   grt SIGQUIT                 the runtime's own dump on kill -QUIT (signal to exit)
#   gdb thread apply all bt     gdb on the same grt process (it sees OS threads only)
#   Go SIGQUIT                  Go's own dump of the twin program (scripts/bench/many.go)
# Each figure is the median of RUNS runs (default 5), in milliseconds, with
# how many goroutines (or threads, for gdb) the output holds.
#
# Usage: scripts/bench-dump.sh [N] [RUNS]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
n=${1:-10000}
runs=${2:-5}
cargo build --release --quiet -p grt --example many --manifest-path "$root/Cargo.toml"
cargo build --release --quiet -p grt-tui --manifest-path "$root/Cargo.toml"
many=$root/target/release/examples/many
tui=$root/target/release/grt-tui
work=$(mktemp -d)
trap 'rm -rf "$work"; jobs -p | xargs -r kill -9 2>/dev/null || true' EXIT

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

# Starts "$@" in the background with stdout to $work/out; waits for its
# "ready" line; sets $pid.
start() {
  : > "$work/out"
  "$@" > "$work/out" 2> "$work/err" &
  pid=$!
  for _ in $(seq 600); do
    grep -q '^ready' "$work/out" 2>/dev/null && return 0
    sleep 0.05
  done
  echo "bench-dump: $* did not get ready" >&2
  exit 1
}

# grt-tui dump, and gdb, on one running grt program.
start "$many" "$n"
times=(); for _ in $(seq "$runs"); do
  t0=$(now_ms); "$tui" dump "$pid" > "$work/dump.txt"; t1=$(now_ms)
  times+=($((t1 - t0)))
done
tui_ms=$(printf '%s\n' "${times[@]}" | median)
tui_gs=$(grep -c '^goroutine ' "$work/dump.txt")
if command -v gdb > /dev/null; then
  times=(); for _ in $(seq "$runs"); do
    t0=$(now_ms); gdb -p "$pid" -batch -nx -ex 'thread apply all bt' > "$work/gdb.txt" 2>&1 || true; t1=$(now_ms)
    times+=($((t1 - t0)))
  done
  gdb_ms=$(printf '%s\n' "${times[@]}" | median)
  gdb_threads=$(grep -c '^Thread ' "$work/gdb.txt" || true)
else
  gdb_ms=-; gdb_threads=-
fi
kill -9 "$pid"; wait "$pid" 2>/dev/null || true

# The runtime's own SIGQUIT dump: from the signal to the process's exit.
times=(); for _ in $(seq "$runs"); do
  start "$many" "$n"
  t0=$(now_ms); kill -QUIT "$pid"; wait "$pid" 2>/dev/null || true; t1=$(now_ms)
  times+=($((t1 - t0)))
done
grt_quit_ms=$(printf '%s\n' "${times[@]}" | median)
grt_quit_gs=$(grep -c '^goroutine ' "$work/err" || true)

# Go's SIGQUIT dump of the twin program.
if command -v go > /dev/null; then
  (cd "$root/scripts/bench" && go build -o "$work/many-go" many.go)
  times=(); for _ in $(seq "$runs"); do
    start "$work/many-go" "$n"
    t0=$(now_ms); kill -QUIT "$pid"; wait "$pid" 2>/dev/null || true; t1=$(now_ms)
    times+=($((t1 - t0)))
  done
  go_ms=$(printf '%s\n' "${times[@]}" | median)
  go_gs=$(grep -c '^goroutine ' "$work/err" || true)
  go_version=$(go version | awk '{ print $3 }')
else
  go_ms=-; go_gs=-; go_version="(go not installed: apt-get install golang-go)"
fi

printf '%-34s %10s %12s\n' "dump of $n parked goroutines" "median ms" "in output"
printf '%-34s %10s %12s\n' "grt-tui dump <pid> (inspector)" "$tui_ms" "$tui_gs goroutines"
printf '%-34s %10s %12s\n' "grt kill -QUIT (runtime)" "$grt_quit_ms" "$grt_quit_gs goroutines"
printf '%-34s %10s %12s\n' "gdb thread apply all bt (grt)" "$gdb_ms" "$gdb_threads threads"
printf '%-34s %10s %12s\n' "Go kill -QUIT ($go_version)" "$go_ms" "$go_gs goroutines"
