#!/usr/bin/env node
// Copies the few google/api and google/rpc protos the API needs from the
// google-proto-files npm package into proto/, so buf builds offline. A buf
// module over the whole package does not build, hence the short list.
// `--check` fails when the vendored copies differ from the package.
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';

const FILES = [
  'google/api/annotations.proto',
  'google/api/field_behavior.proto',
  'google/api/http.proto',
  'google/rpc/error_details.proto',
  'google/rpc/status.proto',
];

const require = createRequire(import.meta.url);
const packageRoot = dirname(require.resolve('google-proto-files/package.json'));
const protoRoot = join(dirname(new URL(import.meta.url).pathname), '..', 'proto');
const check = process.argv.includes('--check');

let stale = 0;
for (const file of FILES) {
  const from = join(packageRoot, file);
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
