#!/usr/bin/env bash
# Builds the lakeFS server the lakeFS tests run (test/helpers/lakefs.ts), once
# per version. `go install` of lakeFS fails (its API code is generated, not
# committed), so this does what its Makefile does, from the module source the
# Go module proxy serves: the oapi-codegen `go:generate` steps of pkg/api/apigen
# and pkg/auth, a placeholder web UI (not needed), then `go build ./cmd/lakefs`.
#
# The binary is cached outside the clone, keyed by version, so every clone on
# this machine (CI's fresh one too) reuses it:
#   ${XDG_CACHE_HOME:-$HOME/.cache}/fraud-scoring/lakefs-<version>/lakefs
# and linked from the clone as .tools/lakefs-<version>. The first build takes
# 6-11 minutes on 2 cores; the binary is only put in place once it has built and
# answered --version, so an interrupted build is never used. Safe to run
# repeatedly and concurrently (one build at a time, under a lock).
#
# Usage: scripts/build-lakefs.sh            build if missing, print the binary's path
set -euo pipefail

version=v0.113.0
module=github.com/treeverse/lakefs

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache="${XDG_CACHE_HOME:-$HOME/.cache}/fraud-scoring/lakefs-$version"
binary="$cache/lakefs"
link="$root/.tools/lakefs-$version"

fail() {
  echo "build-lakefs: $*" >&2
  exit 1
}

# A binary that runs and names the expected version, not just a file that exists.
usable() {
  [[ -x $1 ]] && [[ "$("$1" --version 2>/dev/null)" == *"${version#v}"* ]]
}

link_from_clone() {
  mkdir -p "$root/.tools"
  ln -sfn "$binary" "$link"
  echo "$link"
}

command -v go >/dev/null || fail "go is not installed; lakeFS $version is built from its Go module source"
mkdir -p "$cache"
if usable "$binary"; then
  link_from_clone
  exit 0
fi

# One build at a time on this machine; whoever waited finds the binary built.
exec 9>"$cache/.lock"
if command -v flock >/dev/null; then
  flock 9
  if usable "$binary"; then
    link_from_clone
    exit 0
  fi
fi

echo "build-lakefs: building lakeFS $version from its Go module source (6-11 minutes the first time)" >&2
download=$(go mod download -json "$module@$version") ||
  fail "could not download $module@$version from the Go module proxy ($(go env GOPROXY))"
source_dir=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p' <<<"$download")
[[ -n $source_dir && -d $source_dir ]] || fail "go mod download named no source folder for $module@$version"

work=$(mktemp -d "$cache/build.XXXXXX")
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
cp -R "$source_dir/." "$work/src"
# The module cache is read-only; the generated files go into this copy.
chmod -R u+w "$work/src"
cd "$work/src"

# Only the oapi-codegen directives: pkg/auth's mockgen one makes test mocks.
go generate -run 'oapi-codegen' ./pkg/api/apigen ./pkg/auth ||
  fail "go generate (oapi-codegen) failed for lakeFS $version"
[[ -s pkg/api/apigen/lakefs.gen.go && -s pkg/auth/client.gen.go ]] ||
  fail "go generate did not produce pkg/api/apigen/lakefs.gen.go and pkg/auth/client.gen.go"

# The server embeds webui/dist; the tests never open the UI.
mkdir -p webui/dist
printf '<!doctype html><title>lakeFS</title><p>The web UI is not built here.</p>\n' > webui/dist/index.html

go build -trimpath -ldflags "-X $module/pkg/version.Version=${version#v}" -o "$work/lakefs" ./cmd/lakefs ||
  fail "go build ./cmd/lakefs failed for lakeFS $version"
usable "$work/lakefs" || fail "the built lakeFS binary does not answer --version with ${version#v}"

# Same file system: the rename is atomic, so a reader sees the old state or the whole binary.
mv -f "$work/lakefs" "$binary"
echo "build-lakefs: built $binary" >&2
link_from_clone
