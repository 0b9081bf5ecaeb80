#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 10): `fuzz/run-all.sh 10` in CI, longer by hand
# (docs/testing.md). Needs cargo-fuzz (`cargo install cargo-fuzz --locked`). Works on the stable
# toolchain: RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass its -Z flags. No sanitizer (-s none): the
# targets look for panics, aborts, timeouts and out-of-memory, which need none.
# Exits non-zero when any target finds a crash; the input is left in fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")"
SECONDS_PER_TARGET="${1:-10}"
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$(pwd)/target}"
TARGETS=$(cargo fuzz list)
cargo fuzz build -s none --release
failed=0
passed=0
for t in $TARGETS; do
    mkdir -p "corpus/$t" "artifacts/$t"
    # Seed corpora (checked in) are copied in so runs never start from nothing.
    if [ -d "seeds/$t" ]; then cp -n seeds/"$t"/* "corpus/$t"/ 2>/dev/null || true; fi
    echo "fuzz: $t for ${SECONDS_PER_TARGET}s"
    if cargo fuzz run -s none --release "$t" "corpus/$t" -- \
        -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb=2048 -timeout=20 \
        -artifact_prefix="artifacts/$t/" -print_final_stats=1 2>"artifacts/$t.log"; then
        grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "artifacts/$t.log" | sed "s/^/  $t /" || true
        passed=$((passed + 1))
    else
        echo "fuzz: $t FAILED (see fuzz/artifacts/$t.log and fuzz/artifacts/$t/)"
        tail -40 "artifacts/$t.log"
        failed=$((failed + 1))
    fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
