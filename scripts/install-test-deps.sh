#!/usr/bin/env bash
# install-test-deps.sh - install the real components portcullis's end-to-end tests drive.
#
# usage: scripts/install-test-deps.sh [--check]
#   Debian 12, as root (or through sudo), non-interactive and idempotent: installs only what
#   is missing among
#     docker-registry skopeo podman slapd ldap-utils postgresql wrk curl jq openssl ca-certificates
#     python3-venv chromium
#   plus Debian's nodejs + npm when no `node` is on PATH, and Debian's docker.io (the only
#   bookworm package that ships the docker CLI) when no `docker` is on PATH. No daemon is
#   started: the tests start docker-registry/slapd themselves on loopback, and `docker login`
#   works without a Docker engine.
#   slapd is preseeded with slapd/no_configuration=true (no prompt, no system DIT), and
#   package services are kept from starting by a policy-rc.d that exits 101 while
#   installing (an existing policy-rc.d is set aside and restored afterwards).
#   `apt-get update` runs only when something is missing. Prints the versions at the end.
#   The tests also use tar, gzip, sha256sum, perl (bcrypt for htpasswd through crypt(3)) and
#   unshare: all from Debian's essential packages.
#   Then the mock OIDC provider's npm package (oauth2-mock-server, pinned by
#   tests/fixtures/oidc/package.json + package-lock.json) is installed with `npm ci` into
#   tests/fixtures/oidc/node_modules (git-ignored), as the user running this script, with a
#   throwaway npm cache: only when missing or installed from another lock file (a stamp in
#   node_modules says which). On node < 20.19 (Debian 12's nodejs is 18), which the pinned
#   8.x does not support, oauth2-mock-server 7.2.1 is installed instead (the tests accept it).
#   Then playwright-core (npm, pinned by tests/fixtures/browser/package.json and its lock file)
#   into tests/fixtures/browser/node_modules, the same way; it drives Debian's chromium.
#   Then schemathesis and kubernetes-validate (PyPI, pinned by
#   tests/fixtures/{schemathesis,kubernetes-validate}/requirements.txt), each into a
#   virtualenv beside its requirements (.venv, git-ignored), the same way: only when missing
#   or made from another requirements file.
#   --check  install nothing: list what is missing and exit 1 if anything is.
# Exit status: 0 when everything is installed, non-zero (with a message) otherwise.
set -euo pipefail

prog=install-test-deps
die() { echo "$prog: error: $*" >&2; exit 1; }

check_only=0
for a in "$@"; do
  case $a in
    --check) check_only=1 ;;
    -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "$prog: unknown option: $a (try --help)" >&2; exit 2 ;;
  esac
done

# slapd lives in /usr/sbin, which a non-login shell may not have on PATH.
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

command -v dpkg-query >/dev/null || die "dpkg-query not found: this script supports Debian 12 only"

pkgs=(docker-registry skopeo podman slapd ldap-utils postgresql wrk curl jq openssl ca-certificates python3-venv chromium)
command -v node >/dev/null || pkgs+=(nodejs npm)
command -v docker >/dev/null || pkgs+=(docker.io)

installed() { # installed PKG: true when dpkg has PKG fully installed
  local st
  st=$(dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null || true)
  [[ $st == ii* ]]
}

missing=()
for p in "${pkgs[@]}"; do
  installed "$p" || missing+=("$p")
done

if ((${#missing[@]})); then
  if ((check_only)); then
    echo "$prog: missing: ${missing[*]} (run $0 as root to install)" >&2
    exit 1
  fi
  SUDO=()
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || die "need root (or sudo) to install: ${missing[*]}"
    # sudo resets the environment: pass the frontend through it
    SUDO=(sudo env DEBIAN_FRONTEND=noninteractive)
  fi
  echo "$prog: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  echo "slapd slapd/no_configuration boolean true" | "${SUDO[@]}" debconf-set-selections \
    || die "debconf-set-selections failed (is debconf installed?)"

  # policy-rc.d exiting 101 keeps package services from starting, only while installing:
  # an existing one is set aside and put back afterwards.
  policy=/usr/sbin/policy-rc.d
  backup=$policy.$prog-backup
  made_policy=0
  # shellcheck disable=SC2317  # called through the EXIT trap
  cleanup() {
    if ((made_policy)); then
      "${SUDO[@]}" rm -f "$policy"
      if [[ -e $backup ]]; then "${SUDO[@]}" mv -f "$backup" "$policy"; fi
    fi
  }
  trap cleanup EXIT
  # a backup left by an interrupted run is the original: put it back first
  if [[ -e $backup ]]; then "${SUDO[@]}" mv -f "$backup" "$policy"; fi
  if [[ -e $policy ]]; then "${SUDO[@]}" cp -p "$policy" "$backup"; fi
  made_policy=1
  printf '#!/bin/sh\n# written by %s while installing: keep package services from starting\nexit 101\n' \
    "$prog" | "${SUDO[@]}" tee "$policy" >/dev/null
  "${SUDO[@]}" chmod 755 "$policy"

  apt_opts=(-q -o DPkg::Lock::Timeout=600)
  log=$(mktemp)
  if ! "${SUDO[@]}" apt-get "${apt_opts[@]}" update >"$log" 2>&1; then
    tail -n 20 "$log" >&2
    rm -f "$log"
    die "apt-get update failed"
  fi
  # docker.io only for its CLI: without its recommends (git, apparmor, needrestart...).
  with_rec=() without_rec=()
  for p in "${missing[@]}"; do
    if [[ $p == docker.io ]]; then without_rec+=("$p"); else with_rec+=("$p"); fi
  done
  apt_install() { # apt_install [APT-OPTION...] -- PKG...
    local opts=()
    while [[ $1 != -- ]]; do opts+=("$1"); shift; done
    shift
    if ! "${SUDO[@]}" apt-get "${apt_opts[@]}" install -y "${opts[@]}" \
      -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
      "$@" >"$log" 2>&1; then
      tail -n 30 "$log" >&2
      rm -f "$log"
      die "apt-get install $* failed"
    fi
  }
  ((${#with_rec[@]} == 0)) || apt_install -- "${with_rec[@]}"
  ((${#without_rec[@]} == 0)) || apt_install --no-install-recommends -- "${without_rec[@]}"
  rm -f "$log"

  still=()
  for p in "${missing[@]}"; do
    installed "$p" || still+=("$p")
  done
  ((${#still[@]} == 0)) || die "still not installed after apt-get: ${still[*]}"
else
  echo "$prog: all present" >&2
fi

# The tests look these binaries up; fail here rather than in the middle of a test run.
for b in docker-registry skopeo podman slapd ldapsearch wrk curl jq openssl node npm docker chromium; do
  if ! command -v "$b" >/dev/null; then
    if [[ $b == docker-registry ]] && dpkg -L docker-registry 2>/dev/null | grep -q '/docker-registry$'; then
      continue
    fi
    die "$b is not on PATH after installation"
  fi
done

# The mock OIDC provider (see the header): npm ci into tests/fixtures/oidc/node_modules.
oidc_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/fixtures/oidc
oidc_stamp=$oidc_dir/node_modules/.install-test-deps.stamp
[[ -f $oidc_dir/package.json && -f $oidc_dir/package-lock.json ]] \
  || die "$oidc_dir/package.json or package-lock.json is missing"
# oauth2-mock-server 8.x wants node ^20.19 || ^22.12 || ^24; 7.x ^18.12 || ^20 || ^22
oidc_fallback=
if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number);
  process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)'; then
  oidc_fallback=oauth2-mock-server@7.2.1
fi
oidc_want="$(cat "$oidc_dir/package.json" "$oidc_dir/package-lock.json" | sha256sum | cut -d' ' -f1) ${oidc_fallback:-lock}"
if [[ -f $oidc_stamp && $(cat "$oidc_stamp") == "$oidc_want" ]]; then
  echo "$prog: npm packages of tests/fixtures/oidc up to date" >&2
elif ((check_only)); then
  echo "$prog: missing: npm packages in $oidc_dir/node_modules (run $0)" >&2
  exit 1
else
  echo "$prog: installing the npm packages of tests/fixtures/oidc${oidc_fallback:+ ($oidc_fallback for node $(node --version))}" >&2
  npm_cache=$(mktemp -d)
  npm_log=$(mktemp)
  npm_opts=(--no-audit --no-fund --no-update-notifier --loglevel=error --cache "$npm_cache")
  if [[ -z $oidc_fallback ]]; then
    npm_cmd=(npm ci "${npm_opts[@]}") # removes node_modules first
  else
    rm -rf "$oidc_dir/node_modules"
    npm_cmd=(npm install "${npm_opts[@]}" --no-save --no-package-lock "$oidc_fallback")
  fi
  if ! (cd "$oidc_dir" && "${npm_cmd[@]}") >"$npm_log" 2>&1; then
    tail -n 30 "$npm_log" >&2
    rm -rf "$npm_cache" "$npm_log"
    die "${npm_cmd[*]} failed in $oidc_dir"
  fi
  rm -rf "$npm_cache" "$npm_log"
  printf '%s\n' "$oidc_want" >"$oidc_stamp"
fi

# playwright-core, which drives Debian's chromium for the browser tests: npm ci, as above.
br_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/fixtures/browser
br_stamp=$br_dir/node_modules/.install-test-deps.stamp
br_want=$(cat "$br_dir/package.json" "$br_dir/package-lock.json" | sha256sum | cut -d' ' -f1)
if [[ -f $br_stamp && $(cat "$br_stamp") == "$br_want" ]]; then
  echo "$prog: npm packages of tests/fixtures/browser up to date" >&2
elif ((check_only)); then
  echo "$prog: missing: npm packages in $br_dir/node_modules (run $0)" >&2
  exit 1
else
  echo "$prog: installing the npm packages of tests/fixtures/browser" >&2
  npm_cache=$(mktemp -d)
  npm_log=$(mktemp)
  # PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD: the tests use Debian's chromium, never a download.
  if ! (cd "$br_dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund \
    --no-update-notifier --loglevel=error --cache "$npm_cache") >"$npm_log" 2>&1; then
    tail -n 30 "$npm_log" >&2
    rm -rf "$npm_cache" "$npm_log"
    die "npm ci failed in $br_dir"
  fi
  rm -rf "$npm_cache" "$npm_log"
  printf '%s\n' "$br_want" >"$br_stamp"
fi

# Python tools, each pip-installed into a virtualenv of its own beside its requirements.txt
# (tests/fixtures/NAME/.venv, git-ignored), again only when the pinned set changed.
pip_venv() { # NAME DIR BINARY
  local name=$1 dir=$2 bin=$3
  local stamp=$dir/.venv/.install-test-deps.stamp
  local want
  want=$(sha256sum <"$dir/requirements.txt" | cut -d' ' -f1)
  if [[ -f $stamp && $(cat "$stamp") == "$want" && -x $dir/.venv/bin/$bin ]]; then
    echo "$prog: $name up to date" >&2
  elif ((check_only)); then
    echo "$prog: missing: $name in $dir/.venv (run $0)" >&2
    exit 1
  else
    echo "$prog: installing $name into $dir/.venv" >&2
    local log
    log=$(mktemp)
    rm -rf "$dir/.venv"
    if ! { python3 -m venv "$dir/.venv" \
      && "$dir/.venv/bin/pip" install --quiet --disable-pip-version-check --no-cache-dir \
        -r "$dir/requirements.txt"; } >"$log" 2>&1; then
      tail -n 30 "$log" >&2
      rm -f "$log"
      die "installing $name into $dir/.venv failed"
    fi
    rm -f "$log"
    printf '%s\n' "$want" >"$stamp"
  fi
}
fixtures=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/fixtures
# schemathesis, for the admin API's conformance test.
st_dir=$fixtures/schemathesis
pip_venv schemathesis "$st_dir" st
# kubernetes-validate (the Kubernetes API's JSON schemas, offline), for the manifests' test.
kv_dir=$fixtures/kubernetes-validate
pip_venv kubernetes-validate "$kv_dir" kubernetes-validate

ver() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo "-"; }
for p in docker-registry skopeo podman slapd ldap-utils postgresql wrk curl jq openssl ca-certificates python3-venv chromium; do
  printf '%s=%s\n' "$p" "$(ver "$p")"
done
printf 'node=%s\n' "$(node --version 2>/dev/null || echo -)"
printf 'npm=%s\n' "$(npm --version 2>/dev/null || echo -)"
printf 'docker=%s\n' "$(docker --version 2>/dev/null || echo -)"
printf 'oauth2-mock-server=%s\n' "$(node -p 'require(process.argv[1]).version' \
  "$oidc_dir/node_modules/oauth2-mock-server/package.json" 2>/dev/null || echo -)"
printf 'chromium=%s\n' "$(chromium --version 2>/dev/null || echo -)"
printf 'playwright-core=%s\n' "$(node -p 'require(process.argv[1]).version' \
  "$br_dir/node_modules/playwright-core/package.json" 2>/dev/null || echo -)"
printf 'schemathesis=%s\n' "$("$st_dir/.venv/bin/st" --version 2>/dev/null | awk '{print $NF}' || echo -)"
printf 'kubernetes-validate=%s\n' "$("$kv_dir/.venv/bin/kubernetes-validate" --version 2>/dev/null || echo -)"
exit 0
