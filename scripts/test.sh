#!/usr/bin/env bash
# test.sh - run every test of portcullis on a fresh Debian 12 machine.
#
# usage: scripts/test.sh [extra cargo test arguments]
#   1. installs, idempotently, the real components the tests drive (docker-registry, skopeo,
#      podman, the docker CLI, slapd, wrk, node) with scripts/install-test-deps.sh;
#   2. checks formatting and lints (cargo fmt --check, clippy -D warnings);
#   3. runs the whole suite: unit tests, black-box HTTP tests, CLI tests and the end-to-end
#      tests against the real registry and clients (cargo test --all-targets).
# CI runs exactly this (.ci/run). Nothing is skipped: a missing component fails its test.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "installing the components the tests use (idempotent)"
bash scripts/install-test-deps.sh

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets --quiet -- -D warnings

step "cargo test --all-targets"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --all-targets "$@" 2>&1 | tee "$log"

# One closing line for the whole run (cargo prints one per test binary, and the last binaries
# to run are the benchmarks, which only measure under `cargo bench`).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "\nportcullis: %d passed, %d failed\n", p, f }' "$log"
