import { experimental, ServerCredentials } from '@grpc/grpc-js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { FileReloader } from './fileReloader.js';
import { parseTlsMaterial, tlsFiles, type TlsMaterial } from './tlsMaterial.js';
import type { TlsConfig } from '../config/securityConfig.js';

type IdentityListener = experimental.IdentityCertificateUpdateListener;
type CaListener = experimental.CaCertificateUpdateListener;

/**
 * The listener's certificates, for grpc-js's certificate-provider credentials:
 * grpc-js swaps the HTTP/2 server's secure context (setSecureContext) on each
 * update, so new connections get the new certificate and open ones keep
 * theirs. Unlike grpc-js's FileWatcherCertificateProvider, which hands over
 * whatever it read (and takes the listener down on a bad file), only checked
 * material is handed over: a bad new file keeps the last good one.
 */
export class ReloadingCertificateProvider implements experimental.CertificateProvider {
  private readonly identityListeners = new Set<IdentityListener>();
  private readonly caListeners = new Set<CaListener>();
  private readonly reloader: FileReloader<TlsMaterial>;

  constructor(
    private material: TlsMaterial,
    config: TlsConfig,
    initial: readonly Buffer[],
    reloadMs: number,
    private readonly metrics: Metrics,
    logger: Logger,
  ) {
    this.showExpiry();
    metrics.tlsReloads.labels('ok').inc(0);
    metrics.tlsReloads.labels('error').inc(0);
    this.reloader = new FileReloader({
      files: tlsFiles(config),
      intervalMs: reloadMs,
      initial,
      parse: (contents) => parseTlsMaterial(contents, new Date()),
      onLoaded: (material) => {
        this.material = material;
        this.showExpiry();
        metrics.tlsReloads.labels('ok').inc();
        logger.info({ subject: material.server.subject, serialNumber: material.server.serialNumber, notAfter: material.server.notAfter }, 'TLS certificate reloaded');
        for (const listener of this.identityListeners) listener(identityOf(material));
        for (const listener of this.caListeners) listener(caOf(material));
      },
      onRefused: (error) => {
        metrics.tlsReloads.labels('error').inc();
        logger.error({ subject: this.material.server.subject, notAfter: this.material.server.notAfter }, `TLS certificate files refused, the last good certificate is still served: ${error.message}`);
      },
    });
  }

  /** Server credentials that follow this provider; mutual TLS when a client CA is configured. */
  credentials(): ServerCredentials {
    const mutual = this.material.clientCa !== undefined;
    // grpc-js 1.14 names this function's parameters (ca, identity) but uses them as (identity, ca): the first must be the identity provider.
    return experimental.createCertificateProviderServerCredentials(this, mutual ? this : null, mutual);
  }

  start(): void {
    this.reloader.start();
  }

  stop(): void {
    this.reloader.stop();
  }

  /** A check now, outside the interval (tests). */
  check(): Promise<void> {
    return this.reloader.check();
  }

  // Listeners get the current material on the next tick, as grpc-js's own
  // provider does: the credentials register their watcher after this call.
  addIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.add(listener);
    process.nextTick(listener, identityOf(this.material));
  }

  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.delete(listener);
  }

  addCaCertificateListener(listener: CaListener): void {
    this.caListeners.add(listener);
    process.nextTick(listener, caOf(this.material));
  }

  removeCaCertificateListener(listener: CaListener): void {
    this.caListeners.delete(listener);
  }

  private showExpiry(): void {
    this.metrics.tlsCertificateExpiry.labels('server').set(this.material.server.notAfter.getTime() / 1000);
    if (this.material.clientCaExpiry !== undefined) this.metrics.tlsCertificateExpiry.labels('client_ca').set(this.material.clientCaExpiry.getTime() / 1000);
  }
}

function identityOf(material: TlsMaterial): experimental.IdentityCertificateUpdate {
  return { certificate: material.certificate, privateKey: material.privateKey };
}

function caOf(material: TlsMaterial): experimental.CaCertificateUpdate | null {
  return material.clientCa === undefined ? null : { caCertificate: material.clientCa };
}
