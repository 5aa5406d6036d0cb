import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tool, type ToolResult } from '../helpers/tools.js';

/** What a certificate may be used for (its extended key usage). */
export type KeyUsage = 'serverAuth' | 'clientAuth';

export interface IssuedCertificate {
  readonly certFile: string;
  readonly keyFile: string;
}

/**
 * Runs a tool that reads no input to completion. Its stdin is closed from the
 * start: a tool that exits at once (a refused handshake) leaves no pipe to
 * write to, which runTool's stdin would turn into an EPIPE error.
 */
export function runWithoutInput(name: string, args: readonly string[]): Promise<ToolResult> {
  return new Promise((resolveRun, rejectRun) => {
    const child = spawn(tool(name), args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.once('error', rejectRun);
    child.once('close', (code) => {
      resolveRun({ code: code ?? -1, stdout, stderr });
    });
  });
}

async function openssl(args: readonly string[]): Promise<void> {
  const result = await runWithoutInput('openssl', args);
  if (result.code !== 0) throw new Error(`openssl ${args[0] ?? ''} failed: ${result.stderr.trim()}`);
}

/**
 * A throwaway certificate authority in a temporary folder, made with the real
 * openssl: P-256 keys, certificates valid for a day. `dispose` removes the folder.
 */
export class TestCertificateAuthority {
  private constructor(
    readonly folder: string,
    readonly caFile: string,
    private readonly caKey: string,
  ) {}

  static async create(name = 'fraud-test-ca'): Promise<TestCertificateAuthority> {
    const folder = await mkdtemp(join(tmpdir(), 'fraud-certs-'));
    const caFile = join(folder, 'ca.crt');
    const caKey = join(folder, 'ca.key');
    await openssl([
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', caKey, '-out', caFile, '-days', '1', '-subj', `/CN=${name}`,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    ]);
    return new TestCertificateAuthority(folder, caFile, caKey);
  }

  /** A certificate for `dnsNames` (the first is also the CN), with the given extended key usages. */
  async issue(file: string, dnsNames: readonly string[], usages: readonly KeyUsage[]): Promise<IssuedCertificate> {
    const certFile = join(this.folder, `${file}.crt`);
    const keyFile = join(this.folder, `${file}.key`);
    const request = join(this.folder, `${file}.csr`);
    const extensions = join(this.folder, `${file}.ext`);
    await writeFile(
      extensions,
      [
        'basicConstraints=critical,CA:FALSE',
        'keyUsage=critical,digitalSignature',
        `extendedKeyUsage=${usages.join(',')}`,
        `subjectAltName=${dnsNames.map((name) => `DNS:${name}`).join(',')}`,
        '',
      ].join('\n'),
    );
    await openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyFile, '-out', request, '-subj', `/CN=${dnsNames[0] ?? file}`]);
    await openssl(['x509', '-req', '-in', request, '-CA', this.caFile, '-CAkey', this.caKey, '-CAcreateserial', '-days', '1', '-out', certFile, '-extfile', extensions]);
    return { certFile, keyFile };
  }

  async dispose(): Promise<void> {
    await rm(this.folder, { recursive: true, force: true });
  }
}
