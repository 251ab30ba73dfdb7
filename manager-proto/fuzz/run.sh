#!/usr/bin/env bash
# Runs every fuzz target (or those named: `run.sh 600 frames requests`) for a bounded
# time (default 60 s each; `run.sh 600` for ten minutes), keeping the corpus between
# runs. Needs cargo-fuzz (`cargo install cargo-fuzz`); on a stable toolchain
# RUSTC_BOOTSTRAP=1 lets it use the sanitizer flags.
# A crash leaves its input in fuzz/artifacts/<target>/: copy it to
# manager-proto/tests/fuzz_regressions/<target>/ so `cargo test` replays it for ever.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-60}"
shift || true
export RUSTC_BOOTSTRAP=1
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cargo fuzz list)
for target in "${targets[@]}"; do
    echo "== $target for ${seconds}s"
    mkdir -p "corpus/$target"
    cargo fuzz run "$target" "corpus/$target" "../tests/fuzz_regressions/$target" -- -max_total_time="$seconds" -print_final_stats=1 2>&1 \
        | grep -E "^(stat::|==|INFO: Running|SUMMARY|Done)|panicked|crash" || true
done
