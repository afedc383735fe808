#!/usr/bin/env bash
# Fuzzes statebound-river with libFuzzer on the stable toolchain.
#
#   bash fuzz/run.sh [SECONDS] [TARGET...]        fuzz each target for SECONDS (default 15)
#   FUZZ_SEED=N bash fuzz/run.sh ...               libFuzzer's seed (default 1; 0 picks one at random)
#   bash fuzz/run.sh --update-corpus SECONDS [TARGET...]
#                                                 fuzz, then merge what was found into the
#                                                 committed corpus (fuzz/corpus/TARGET), minimised
#
# libFuzzer comes from the libfuzzer-sys crate (built from source with the C++ compiler);
# coverage comes from LLVM's SanitizerCoverage pass, which stable rustc runs through
# `-C passes=sancov-module` and `-C llvm-args`, the flags cargo-fuzz passes on nightly. There is
# no AddressSanitizer on stable; the crates under test have no unsafe code. Debug assertions and
# overflow checks stay on. Each run starts from the committed corpus and the seeds, in a scratch
# copy: the committed corpus only changes with --update-corpus. The seed is fixed unless
# FUZZ_SEED says otherwise, so a run explores the same inputs in the same order on any machine
# and a failure CI meets is met again by anyone who runs as long; longer runs with random seeds
# are how new inputs are found (RELIABILITY.md).
set -euo pipefail
cd "$(dirname "$0")/.."

update=0
if [[ "${1:-}" == "--update-corpus" ]]; then
    update=1
    shift
fi
seconds="${1:-15}"
shift || true
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
    targets=(decode_json decode_msgpack handshake_frame server_handshake client_response session_events)
fi

fail() {
    echo "fuzz: $*" >&2
    exit 1
}
seed="${FUZZ_SEED:-1}"
[[ "$seed" =~ ^[0-9]+$ ]] || fail "FUZZ_SEED must be a number (0 for a random seed), not '$seed'"
command -v cargo >/dev/null || fail "missing tool: cargo"
command -v rustc >/dev/null || fail "missing tool: rustc"
cxx="${CXX:-c++}"
"$cxx" --version >/dev/null 2>&1 ||
    fail "missing tool: a C++ compiler ('$cxx'); libfuzzer-sys builds libFuzzer with it (apt-get install g++)"

# The target triple must be explicit, so the coverage flags reach the fuzzed code and not the
# build scripts and proc macros, which would then fail to link without libFuzzer.
host="$(rustc -vV | sed -n 's/^host: //p')"
[[ -n "$host" ]] || fail "cannot tell the host target from 'rustc -vV'"
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$PWD/target/fuzz}"
export RUSTFLAGS="--cfg fuzzing -C passes=sancov-module \
-C llvm-args=-sanitizer-coverage-level=4 \
-C llvm-args=-sanitizer-coverage-inline-8bit-counters \
-C llvm-args=-sanitizer-coverage-pc-table \
-C llvm-args=-sanitizer-coverage-trace-compares \
-C debug-assertions -C overflow-checks"

echo "== fuzz: building ${targets[*]} for $host"
bins=()
for t in "${targets[@]}"; do bins+=(--bin "$t"); done
cargo build --release --locked -p statebound-river-fuzz --target "$host" "${bins[@]}"

seeds_of() {
    case "$1" in
        decode_json) echo fuzz/seeds/json ;;
        decode_msgpack) echo fuzz/seeds/msgpack ;;
        handshake_frame) echo fuzz/seeds/json fuzz/seeds/msgpack ;;
        *) echo "fuzz/seeds/$1" ;;
    esac
}

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
artifacts="$PWD/fuzz/artifacts"
mkdir -p "$artifacts"
for t in "${targets[@]}"; do
    bin="$CARGO_TARGET_DIR/$host/release/$t"
    work="$scratch/$t"
    mkdir -p "$work" "fuzz/corpus/$t"
    # shellcheck disable=SC2046
    cp $(find $(seeds_of "$t") "fuzz/corpus/$t" -maxdepth 1 -type f) "$work/" 2>/dev/null || true
    log="$scratch/$t.log"
    echo "== fuzz: $t for ${seconds}s, seed $seed"
    if ! "$bin" "$work" -seed="$seed" -max_total_time="$seconds" -print_final_stats=1 -timeout=10 \
        -rss_limit_mb=2048 -max_len=4096 -artifact_prefix="$artifacts/$t-" >"$log" 2>&1; then
        tail -n 40 "$log" >&2
        fail "$t failed; the input is saved under fuzz/artifacts/ (replay it with: cargo run -p statebound-river-fuzz --bin $t -- FILE)"
    fi
    runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")"
    rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")"
    cov="$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 || true)"
    echo "fuzz: $t: $runs inputs, $rate exec/s, $cov, corpus $(find "$work" -type f | wc -l) files"
    if [[ $update -eq 1 ]]; then
        fresh="$scratch/$t.merged"
        mkdir -p "$fresh"
        "$bin" -merge=1 -set_cover_merge=1 "$fresh" "fuzz/corpus/$t" "$work" >"$log.merge" 2>&1 ||
            fail "merging the $t corpus failed (see $log.merge)"
        rm -rf "fuzz/corpus/$t"
        mv "$fresh" "fuzz/corpus/$t"
        echo "fuzz: $t: committed corpus now $(find "fuzz/corpus/$t" -type f | wc -l) files"
    fi
done
echo "fuzz: no failure"
