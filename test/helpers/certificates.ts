import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A certificate and its key, as PEM files and their contents. */
export interface IssuedCertificate {
  readonly certFile: string;
  readonly keyFile: string;
  readonly cert: Buffer;
  readonly key: Buffer;
}

/** What a certificate may be used for (its extended key usage). */
export type KeyUsage = 'serverAuth' | 'clientAuth';

export interface IssueOptions {
  /** Subject CN. */
  readonly commonName: string;
  /** subjectAltName entries, e.g. ['DNS:localhost', 'IP:127.0.0.1', 'URI:spiffe://example.org/payments']. */
  readonly altNames?: readonly string[];
  /** Validity, as Dates; by default from an hour ago to a day from now. */
  readonly notBefore?: Date;
  readonly notAfter?: Date;
  /**
   * Extended key usages (e.g. ['serverAuth'] for a server-only certificate, which a
   * client that checks it refuses to present). Given, the certificate is also marked
   * not a CA, for digital signatures only; by default it carries no such extensions.
   */
  readonly extendedKeyUsage?: readonly KeyUsage[];
}

/** The altNames of a server certificate the tests dial as 127.0.0.1 or localhost. */
export const LOCAL_SERVER_NAMES = ['DNS:localhost', 'IP:127.0.0.1'];

/**
 * A throwaway certificate authority in `dir`, made with the real `openssl`
 * (EC P-256 keys: quick to make). `openssl ca` is used for every certificate
 * so that a test can choose the validity to the second, an expired one included.
 */
export class TestCertificateAuthority {
  private issued = 0;

  private constructor(
    readonly dir: string,
    readonly certificate: IssuedCertificate,
    /** What dispose removes. */
    private readonly ownFolder: string,
  ) {}

  /** A CA in a new temporary folder of its own, which `dispose` removes. */
  static async createTemporary(name = 'fraud-test-ca'): Promise<TestCertificateAuthority> {
    const root = await mkdtemp(join(tmpdir(), 'fraud-certs-'));
    return TestCertificateAuthority.create(root, name, root);
  }

  static async create(dir: string, name: string, ownFolder = join(dir, name)): Promise<TestCertificateAuthority> {
    const caDir = join(dir, name);
    await mkdir(caDir, { recursive: true });
    const certFile = join(caDir, 'ca.crt');
    const keyFile = join(caDir, 'ca.key');
    await run('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', `/CN=${name}`,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    ]);
    await writeFile(join(caDir, 'index.txt'), '');
    await writeFile(join(caDir, 'serial'), '1000\n');
    await writeFile(
      join(caDir, 'ca.cnf'),
      [
        '[ ca ]',
        'default_ca = test_ca',
        '[ test_ca ]',
        `database = ${join(caDir, 'index.txt')}`,
        `new_certs_dir = ${caDir}`,
        `serial = ${join(caDir, 'serial')}`,
        'default_md = sha256',
        'policy = any_subject',
        'copy_extensions = copy',
        'unique_subject = no',
        '[ any_subject ]',
        'commonName = supplied',
        '',
      ].join('\n'),
    );
    return new TestCertificateAuthority(caDir, { certFile, keyFile, cert: await readFile(certFile), key: await readFile(keyFile) }, ownFolder);
  }

  /** A certificate signed by this CA, written as `<name>.crt` and `<name>.key` in the CA's folder. */
  async issue(name: string, options: IssueOptions): Promise<IssuedCertificate> {
    this.issued++;
    const base = join(this.dir, `${name}-${this.issued}`);
    const request = `${base}.csr`;
    const keyFile = `${base}.key`;
    const certFile = `${base}.crt`;
    const altNames = options.altNames ?? [];
    await run('openssl', [
      'req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', keyFile, '-out', request, '-subj', `/CN=${options.commonName}`,
      ...(altNames.length > 0 ? ['-addext', `subjectAltName=${altNames.join(',')}`] : []),
      ...usageExtensions(options.extendedKeyUsage),
    ]);
    const now = Date.now();
    await run('openssl', [
      'ca', '-batch', '-notext', '-config', join(this.dir, 'ca.cnf'), '-cert', this.certificate.certFile, '-keyfile', this.certificate.keyFile,
      '-in', request, '-out', certFile,
      '-startdate', opensslTime(options.notBefore ?? new Date(now - 3_600_000)),
      '-enddate', opensslTime(options.notAfter ?? new Date(now + 86_400_000)),
    ]);
    return { certFile, keyFile, cert: await readFile(certFile), key: await readFile(keyFile) };
  }

  /** Removes the CA's folder (for `createTemporary`, the temporary folder) and every certificate in it. */
  async dispose(): Promise<void> {
    await rm(this.ownFolder, { recursive: true, force: true });
  }
}

/** The request's extensions for `usages` (`copy_extensions = copy` carries them into the certificate). */
function usageExtensions(usages: readonly KeyUsage[] | undefined): string[] {
  if (usages === undefined) return [];
  return [
    '-addext', 'basicConstraints=critical,CA:FALSE',
    '-addext', 'keyUsage=critical,digitalSignature',
    '-addext', `extendedKeyUsage=${usages.join(',')}`,
  ];
}

/** YYYYMMDDHHMMSSZ, as `openssl ca -startdate/-enddate` takes it. */
function opensslTime(date: Date): string {
  return `${date.toISOString().replace(/[-:T]/g, '').slice(0, 14)}Z`;
}

/** Options for a certificate of DNS names (the first is also the CN), e.g. a pod's Service names. */
export function forDnsNames(names: readonly string[], extendedKeyUsage?: readonly KeyUsage[]): IssueOptions {
  return { commonName: names[0] ?? 'localhost', altNames: names.map((name) => `DNS:${name}`), extendedKeyUsage };
}
