import { join } from 'node:path';
import { packageRoot } from '../../src/packageRoot.js';

export const FIXTURES = join(packageRoot, 'test', 'fixtures', 'models');
export const BUNDLED = join(packageRoot, 'models');
export const MAIN_SCRIPT = join(packageRoot, 'dist', 'src', 'main.js');
export const CLI_SCRIPT = join(packageRoot, 'dist', 'client', 'bin.js');

/** A fixture model's manifest path, e.g. fixture('binary-tensor-f32'). */
export function fixture(name: string): string {
  return join(FIXTURES, `${name}.json`);
}

export function bundled(name: 'fraud-binary' | 'fraud-scenario'): string {
  return join(BUNDLED, `${name}.json`);
}
