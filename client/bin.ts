#!/usr/bin/env node
import { Cli } from './cli.js';
import { FraudClient } from './fraudClient.js';

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
