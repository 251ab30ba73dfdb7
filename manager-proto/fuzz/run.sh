#!/usr/bin/env bash
# Runs every fuzz target (or those named: `run.sh 600 frames requests`) for a bounded
# time (default 60 s each; `run.sh 600` for ten minutes), keeping the corpus between
# runs. Needs cargo-fuzz (`cargo install cargo-fuzz`); on a stable toolchain
# RUSTC_BOOTSTRAP=1 lets it use the sanitizer flags.
# A crash leaves its input in fuzz/artifacts/<target>/: copy it to
# manager-proto/tests/fuzz_regressions/<target>/ so `cargo test` replays it for ever.
set -euo pipefail
cd "$(dirname "$0")"
# Without it `cargo fuzz list` lists nothing and the loop below would pass having run nothing.
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "run.sh: cargo-fuzz is not installed; install it with \`cargo install cargo-fuzz\`" >&2
    exit 1
fi
seconds="${1:-60}"
shift || true
export RUSTC_BOOTSTRAP=1
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cargo fuzz list)
failed=0
for target in "${targets[@]}"; do
    echo "== $target for ${seconds}s"
    mkdir -p "corpus/$target"
    log="$(mktemp)"
    # A crash (or a failed build) makes `cargo fuzz run` fail: so does this script.
    cargo fuzz run "$target" "corpus/$target" "../tests/fuzz_regressions/$target" -- -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1 \
        || { failed=1; tail -n 30 "$log"; }
    grep -E "^(stat::|==|INFO: Running|SUMMARY|Done)|panicked|crash" "$log" || true
    rm -f "$log"
done
exit "$failed"
