#!/usr/bin/env bash
# Install llama-cpp-python[server], which only the llama.cpp server tests need (the HTTP
# backend against a real OpenAI-compatible server on loopback).
#
# PyPI has no prebuilt wheel of it for Linux x86-64, so pip compiles llama.cpp from source:
# about 10 minutes on 2 cores, once (pip caches the wheel; later installs take seconds).
# This script prefers a wheel when one exists, shows the compile's progress instead of a
# silent pip, and never fails the install: if the compile fails, it says so and the server
# tests skip while every other test runs.
set -uo pipefail
PIP=${1:?usage: install-serve.sh PATH/TO/pip}
SPEC=${LLAMA_SPEC:-'llama-cpp-python[server]>=0.3'}
LOG=${LLAMA_BUILD_LOG:-$(dirname "$PIP")/../llama-build.log}

if "$PIP" install -q --only-binary=llama-cpp-python "$SPEC" >/dev/null 2>&1; then
  echo "llama-cpp-python: installed (a prebuilt or cached wheel)"
  exit 0
fi
echo "llama-cpp-python: no prebuilt wheel for this platform; compiling llama.cpp for the"
echo "  llama.cpp server tests (about 10 minutes on 2 cores, once: pip caches the wheel)."
echo "  Full log: $LOG"
start=$(date +%s)
"$PIP" install -v "$SPEC" >"$LOG" 2>&1 &
pid=$!
while kill -0 "$pid" 2>/dev/null; do  # a line every 30 s: the compile's last percentage
  for _ in 1 2 3 4 5 6; do kill -0 "$pid" 2>/dev/null && sleep 5; done
  kill -0 "$pid" 2>/dev/null || break
  pct=$(grep -oE '^\s*\[ *[0-9]+%\]' "$LOG" 2>/dev/null | tail -1 | tr -dc '0-9')
  echo "  llama.cpp build: ${pct:-0}% after $(( $(date +%s) - start )) s"
done
if wait "$pid"; then
  echo "llama-cpp-python: built and installed in $(( $(date +%s) - start )) s"
else
  echo "llama-cpp-python: the build FAILED (see $LOG). The llama.cpp server tests will be"
  echo "  skipped; every other test runs. To retry: $PIP install -v '$SPEC'"
fi
exit 0
