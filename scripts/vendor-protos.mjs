#!/usr/bin/env node
// Copies the few third-party protos the API needs into proto/, so buf builds
// offline: google/api and google/rpc from the google-proto-files npm package (a
// buf module over the whole package does not build, hence the short list), and
// the gRPC health and reflection protos from grpc-health-check and
// @grpc/reflection (typed clients and servers, one descriptor set for all).
// `--check` fails when the vendored copies differ from the package.
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const packageDir = (name) => dirname(require.resolve(`${name}/package.json`));

/** [file in proto/, package it comes from, path inside that package] */
const FILES = [
  ['google/api/annotations.proto', 'google-proto-files', 'google/api/annotations.proto'],
  ['google/api/field_behavior.proto', 'google-proto-files', 'google/api/field_behavior.proto'],
  ['google/api/http.proto', 'google-proto-files', 'google/api/http.proto'],
  ['google/rpc/error_details.proto', 'google-proto-files', 'google/rpc/error_details.proto'],
  ['google/rpc/status.proto', 'google-proto-files', 'google/rpc/status.proto'],
  ['grpc/health/v1/health.proto', 'grpc-health-check', 'proto/health/v1/health.proto'],
  ['grpc/reflection/v1/reflection.proto', '@grpc/reflection', 'build/proto/grpc/reflection/v1/reflection.proto'],
  ['grpc/reflection/v1alpha/reflection.proto', '@grpc/reflection', 'build/proto/grpc/reflection/v1alpha/reflection.proto'],
];

const protoRoot = join(dirname(new URL(import.meta.url).pathname), '..', 'proto');
const check = process.argv.includes('--check');

let stale = 0;
for (const [file, packageName, packagePath] of FILES) {
  const from = join(packageDir(packageName), packagePath);
  const to = join(protoRoot, file);
  if (check) {
    let current = null;
    try {
      current = readFileSync(to);
    } catch {
      // missing counts as stale
    }
    if (current === null || !current.equals(readFileSync(from))) {
      console.error(`stale vendored proto: proto/${file} (run npm run vendor-protos)`);
      stale += 1;
    }
  } else {
    mkdirSync(dirname(to), { recursive: true });
    copyFileSync(from, to);
  }
}
process.exit(stale === 0 ? 0 : 1);
