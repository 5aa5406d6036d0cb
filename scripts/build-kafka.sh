#!/usr/bin/env bash
# Fetches the Apache Kafka broker the decision log's Kafka tests run
# (test/helpers/kafka.ts), once per version: the jars of org.apache.kafka:kafka_2.13
# and its dependencies from Maven Central (scripts/kafka/pom.xml, about 43 MB),
# copied by `mvn dependency:copy-dependencies` into one folder. The broker runs
# in KRaft mode (no ZooKeeper) on Java 17 or later, from that folder as its
# class path: `kafka.tools.StorageTool format`, then `kafka.Kafka server.properties`.
#
# The jars are cached outside the clone, keyed by version, so every clone on this
# machine (CI's fresh one too) reuses them:
#   ${XDG_CACHE_HOME:-$HOME/.cache}/fraud-scoring/kafka-<version>/libs/*.jar
# and linked from the clone as .tools/kafka-<version>. The folder is only put in
# place once Maven has copied every jar and the broker's main class loads, so an
# interrupted download is never used. Safe to run repeatedly and concurrently
# (one download at a time, under a lock).
#
# Usage: scripts/build-kafka.sh            fetch if missing, print the libs folder
set -euo pipefail

# Also in scripts/kafka/pom.xml and test/helpers/kafka.ts (KAFKA_VERSION).
version=4.4.0

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache="${XDG_CACHE_HOME:-$HOME/.cache}/fraud-scoring/kafka-$version"
libs="$cache/libs"
link="$root/.tools/kafka-$version"

fail() {
  echo "build-kafka: $*" >&2
  exit 1
}

# A folder whose jars start Kafka and name the expected version, not just a folder that exists.
usable() {
  [[ -f $1/kafka_2.13-$version.jar ]] &&
    [[ "$(java -cp "$1/*" kafka.Kafka --version 2>/dev/null)" == *"$version"* ]]
}

link_from_clone() {
  mkdir -p "$root/.tools"
  ln -sfn "$libs" "$link"
  echo "$link"
}

command -v java >/dev/null || fail "java is not installed; Kafka $version runs on Java 17 or later (apt-get install openjdk-17-jre-headless)"
command -v mvn >/dev/null || fail "mvn is not installed; it fetches Kafka $version from Maven Central (apt-get install maven)"
mkdir -p "$cache"
if usable "$libs"; then
  link_from_clone
  exit 0
fi

# One download at a time on this machine; whoever waited finds the jars in place.
exec 9>"$cache/.lock"
if command -v flock >/dev/null; then
  flock 9
  if usable "$libs"; then
    link_from_clone
    exit 0
  fi
fi

echo "build-kafka: fetching Apache Kafka $version (kafka_2.13 and its dependencies) from Maven Central" >&2
work=$(mktemp -d "$cache/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
mvn -B -q -Dstyle.color=never -f "$root/scripts/kafka/pom.xml" dependency:copy-dependencies \
  -DoutputDirectory="$work/libs" ||
  fail "mvn dependency:copy-dependencies failed for Kafka $version (scripts/kafka/pom.xml)"
usable "$work/libs" || fail "the fetched jars do not start Kafka $version (kafka.Kafka --version)"

# Same file system: the rename is atomic, so a reader sees no folder or the whole one.
rm -rf "$libs"
mv "$work/libs" "$libs"
echo "build-kafka: fetched $libs" >&2
link_from_clone
