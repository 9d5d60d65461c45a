#!/bin/sh
# Rotates the signing key with skopeo pulls running throughout, against Debian's registry,
# and prints the figures (pulls per phase, failures, tokens refused). The same test runs in
# scripts/test.sh; this runs it alone. Needs the test components (scripts/install-test-deps.sh).
set -eu
cd "$(dirname "$0")/.."
cargo test --test key_rotation -- --nocapture the_signing_key_is_rotated 2>&1 |
    grep -E '^(key rotation|  +[0-9]+ pulls|  tokens the registry refused|test result)'
