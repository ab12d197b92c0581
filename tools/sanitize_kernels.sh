#!/usr/bin/env bash
# Build groundlite._kernels with AddressSanitizer + UndefinedBehaviorSanitizer and run the kernel
# tests under it, then restore the normal build. Used by .ci/run; safe to run by hand.
set -euo pipefail
cd "$(dirname "$0")/.."

restore() { pip install -e . --no-build-isolation --no-deps -q >/dev/null; }
trap restore EXIT

pip install -e . --no-build-isolation --no-deps -q \
  -Ccmake.define.GROUNDLITE_SANITIZE=ON -Cbuild-dir=build/sanitize -Ccmake.build-type=RelWithDebInfo

ASAN_LIB="$(${CXX:-g++} -print-file-name=libasan.so)"
UBSAN_LIB="$(${CXX:-g++} -print-file-name=libubsan.so)"
# Python itself is not instrumented: leaks from the interpreter are not ours, so leak checking is off;
# any ASan/UBSan report aborts the process and fails the run.
LD_PRELOAD="$ASAN_LIB $UBSAN_LIB" \
ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:halt_on_error=1" \
UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1" \
GROUNDLITE_EXPECT_SANITIZED=1 \
  python -m pytest -q -p no:cacheprovider tests/test_ops_*.py "$@"
