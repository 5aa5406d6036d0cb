#!/usr/bin/env node
import { Cli } from './cli.js';
import { FraudClient } from './fraudClient.js';

// grpc-js dials TLS with the address's IP as the server name, which Node
// deprecates (DEP0123, grpc/grpc-node#1919): a warning on every `--address
// 127.0.0.1:… --tls-ca-file …` that the user can do nothing about. Node's
// deprecations are for the code's authors, not for users of the command.
process.noDeprecation = true;

const cli = new Cli(
  { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env },
  (settings) => new FraudClient({ address: settings.address, deadlineMs: settings.deadlineMs, tls: settings.tls, token: settings.token }),
);
cli.run(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`fatal: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
