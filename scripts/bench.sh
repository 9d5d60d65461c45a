#!/usr/bin/env bash
# bench.sh - run every benchmark of portcullis in one go, on this machine, and print figures.
#
# usage: scripts/bench.sh
#   Installs what the benchmarks drive (wrk, docker-registry, skopeo; idempotent), builds in
#   release mode, then runs:
#     cargo bench --bench token    baselines, /token paths, argon2, memory, registry side by side
#     cargo bench --bench policy   policy decisions with 100,000 users and 10,000 rules vs 10
#     cargo bench --bench cache    the remembered-credentials cache: a lookup, an insertion
#     cargo bench --bench instructions   instructions per request on each warm path (callgrind)
#   Benchmarks measure and print; they assert nothing about speed. Read the ratios: the
#   machine is shared, so absolute figures move from run to run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-test-deps.sh >/dev/null
# The independent floor the token paths are compared with (benches/floor/main.rs).
cargo build --release --quiet --features bench-floor --bin portcullis-floor
cargo bench --bench token
cargo bench --bench policy
cargo bench --bench cache
cargo bench --bench instructions
