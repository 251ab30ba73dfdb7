#!/usr/bin/env bash
# Runs the server's fuzz targets (today `live_requests`; or those named: `run.sh 600
# live_requests`) for a bounded time each (default 60 s; `run.sh 600` for ten minutes),
# keeping the corpus between runs. Needs cargo-fuzz (`cargo install cargo-fuzz`); on a
# stable toolchain RUSTC_BOOTSTRAP=1 lets it use the sanitizer flags.
#
# Built with debug assertions (`-a`), so an arithmetic overflow panics as it does under
# `cargo test`. A call that does not return within -timeout, and an allocation past
# -malloc_limit_mb / -rss_limit_mb (inputs are a few KB), are findings like a panic.
#
# Findings (crash-*, timeout-*, oom-*) are copied from fuzz/artifacts/<target>/ to
# fuzz/findings/<target>/ and the script fails. Reproduce one with
# `RUSTC_BOOTSTRAP=1 cargo fuzz run -a <target> <file>`. Once the server is fixed, move it
# to manager-server/tests/fuzz_regressions/<target>/, where `cargo test` replays it for ever
# (not before: an unfixed one would fail or hang `cargo test`).
#
# KEEP_GOING=1 goes on past findings (libFuzzer's fork mode) to collect more than one.
set -euo pipefail
cd "$(dirname "$0")"
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "run.sh: cargo-fuzz is not installed; install it with \`cargo install cargo-fuzz\`" >&2
    exit 1
fi
seconds="${1:-60}"
shift || true
export RUSTC_BOOTSTRAP=1
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cargo fuzz list)
flags=(-max_total_time="$seconds" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=512)
if [ "${KEEP_GOING:-0}" = 1 ]; then
    flags+=(-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
fi
failed=0
for target in "${targets[@]}"; do
    echo "== $target for ${seconds}s"
    mkdir -p "corpus/$target" "artifacts/$target" "findings/$target"
    since="$(mktemp)"
    log="$(mktemp)"
    set +e
    cargo fuzz run -a "$target" "corpus/$target" "../tests/fuzz_regressions/$target" -- "${flags[@]}" >"$log" 2>&1
    status=$?
    set -e
    grep -E "^(stat::|==|INFO: Running|INFO: exiting|SUMMARY|Done|#[0-9]+: cov)|panicked|crash-|timeout-|oom-|deadly" "$log" || true
    found=0
    for artifact in "artifacts/$target"/{crash,timeout,oom}-*; do
        if [ -e "$artifact" ] && [ "$artifact" -nt "$since" ]; then
            cp "$artifact" "findings/$target/"
            echo "finding: findings/$target/$(basename "$artifact")"
            found=1
        fi
    done
    if [ "$status" != 0 ] && [ "$found" = 0 ]; then
        # Not a finding: the build or the fuzzer itself failed.
        tail -n 30 "$log"
    fi
    if [ "$status" != 0 ] || [ "$found" = 1 ]; then
        failed=1
    fi
    rm -f "$log" "$since"
done
if [ "$failed" = 1 ]; then
    echo "run.sh: failed; findings, if any, are in fuzz/findings/" >&2
fi
exit "$failed"
