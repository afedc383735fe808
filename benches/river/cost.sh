#!/usr/bin/env bash
# Deterministic costs of statebound-river's hot paths, checked against the committed baseline
# (benches/river/baseline.txt): allocations per unit, counted by river-cost's allocator, and
# instructions per unit under valgrind's callgrind. Each figure is the difference between a run
# of 2N units and a run of N units, divided by N, so start-up and warm-up cancel out.
#
#   bash benches/river/cost.sh            check against the baseline (what CI runs)
#   bash benches/river/cost.sh --update   write the figures measured now as the baseline
#
# A figure above its baseline fails the check: allocations by any amount, instructions by more
# than 5% (the same binary counts the same instructions, but glibc picks its memcpy by CPU).
# The ratios the project promises are checked too: our codecs at most 1.10x plain serde, one
# transition at most 1.20x the hand-written equivalent. Without valgrind the instruction checks
# are skipped with a message; the allocation checks always run.
set -euo pipefail
cd "$(dirname "$0")/../.."
baseline=benches/river/baseline.txt
update=0
[ "${1:-}" = "--update" ] && update=1

cargo build --release --locked -q -p statebound-bench --bin river-cost
bin=target/release/river-cost
have_valgrind=1
if ! valgrind --version >/dev/null 2>&1; then
    have_valgrind=0
    echo "cost.sh: valgrind not found; instruction counts are skipped (install valgrind to check them)" >&2
fi

# name  N: each workload runs N and 2N units.
workloads="rpc 1000
rpc-metrics 1000
heartbeat 1000
codec-msgpack 10000
plain-msgpack 10000
codec-json 10000
plain-json 10000
transition 10000
transition-plain 10000"

allocations() { "$bin" "$1" --count "$2" | awk '{print $4}'; }
instructions() {
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$1" --count "$2" 2>&1 \
        | awk '/Collected/ {print $4}'
}

declare -A allocs instrs
printf '%-18s %14s %14s\n' workload allocations instructions
while read -r name n; do
    a=$(( ($(allocations "$name" $((2 * n))) - $(allocations "$name" "$n")) / n ))
    i=0
    if [ "$have_valgrind" = 1 ]; then
        i=$(( ($(instructions "$name" $((2 * n))) - $(instructions "$name" "$n")) / n ))
    fi
    allocs[$name]=$a
    instrs[$name]=$i
    printf '%-18s %14s %14s\n' "$name" "$a" "$i"
done <<< "$workloads"

if [ "$update" = 1 ]; then
    {
        echo "# per unit: workload allocations instructions (bash benches/river/cost.sh --update)"
        while read -r name _; do
            echo "$name ${allocs[$name]} ${instrs[$name]}"
        done <<< "$workloads"
    } > "$baseline"
    echo "cost.sh: wrote $baseline"
    exit 0
fi

failed=0
while read -r name base_a base_i; do
    case "$name" in '#'*|'') continue ;; esac
    a=${allocs[$name]:-}
    if [ -z "$a" ]; then
        echo "cost.sh: $name is in the baseline but was not measured" >&2
        failed=1
        continue
    fi
    if [ "$a" -gt "$base_a" ]; then
        echo "cost.sh: $name: $a allocations per unit, baseline $base_a" >&2
        failed=1
    elif [ "$a" -lt "$base_a" ]; then
        echo "cost.sh: $name: $a allocations per unit, below the baseline's $base_a: update it"
    fi
    if [ "$have_valgrind" = 1 ]; then
        i=${instrs[$name]}
        if [ $((i * 100)) -gt $((base_i * 105)) ]; then
            echo "cost.sh: $name: $i instructions per unit, baseline $base_i (+5% allowed)" >&2
            failed=1
        fi
    fi
done < "$baseline"

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
check_ratio() { # name ours theirs limit
    local r
    r=$(ratio "$2" "$3")
    echo "ratio $1: $r (at most $4)"
    if awk -v r="$r" -v l="$4" 'BEGIN { exit !(r > l) }'; then
        echo "cost.sh: $1 is $r, over $4" >&2
        failed=1
    fi
}
if [ "$have_valgrind" = 1 ]; then
    check_ratio "msgpack codec / plain rmp-serde" "${instrs[codec-msgpack]}" "${instrs[plain-msgpack]}" 1.10
    check_ratio "json codec / plain serde_json" "${instrs[codec-json]}" "${instrs[plain-json]}" 1.10
    check_ratio "transition / hand-written" "${instrs[transition]}" "${instrs[transition-plain]}" 1.20
fi

if [ "$failed" = 1 ]; then
    echo "cost.sh: costs went up; if that is intended, run: bash benches/river/cost.sh --update" >&2
    exit 1
fi
echo "cost.sh: every cost is within its baseline"
