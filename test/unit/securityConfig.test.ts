import assert from 'node:assert/strict';
import { ConfigError } from '../../src/config/envValues.js';
import { loadConfig } from '../../src/config/config.js';

const TLS = { FRAUD_TLS_CERT_FILE: '/tls/tls.crt', FRAUD_TLS_KEY_FILE: '/tls/tls.key' };

describe('config: TLS and authentication (FRAUD_TLS_*, FRAUD_AUTH_*)', () => {
  it('should be plaintext with open writes and reads when nothing is set', () => {
    const config = loadConfig({});
    assert.equal(config.tls, undefined);
    assert.deepEqual(config.auth, { tokensFile: undefined, clientNames: [], writes: 'open', reads: 'open' });
    assert.equal(config.securityReloadMs, 60_000);
  });

  it('should make writes authenticated by default once a tokens file or a client CA is set, reads staying open', () => {
    assert.equal(loadConfig({ FRAUD_AUTH_TOKENS_FILE: '/secrets/tokens' }).auth.writes, 'authenticated');
    const mutual = loadConfig({ ...TLS, FRAUD_TLS_CLIENT_CA_FILE: '/tls/ca.crt' });
    assert.equal(mutual.auth.writes, 'authenticated');
    assert.equal(mutual.auth.reads, 'open');
    assert.equal(mutual.tls?.clientCaFile, '/tls/ca.crt');
    assert.equal(loadConfig(TLS).auth.writes, 'open');
  });

  const refusals: [string, Record<string, string>, RegExp][] = [
    ['a certificate without its key', { FRAUD_TLS_CERT_FILE: '/tls/tls.crt' }, /^FRAUD_TLS_KEY_FILE: is required with FRAUD_TLS_CERT_FILE/],
    ['a key without its certificate', { FRAUD_TLS_KEY_FILE: '/tls/tls.key' }, /^FRAUD_TLS_CERT_FILE: is required with FRAUD_TLS_KEY_FILE/],
    ['a client CA without TLS', { FRAUD_TLS_CLIENT_CA_FILE: '/tls/ca.crt' }, /^FRAUD_TLS_CLIENT_CA_FILE: needs TLS/],
    ['client names without mutual TLS', { ...TLS, FRAUD_AUTH_CLIENT_NAMES: 'payments' }, /^FRAUD_AUTH_CLIENT_NAMES: .*set FRAUD_TLS_CLIENT_CA_FILE/],
    ['authenticated writes nobody could make', { FRAUD_AUTH_WRITES: 'authenticated' }, /^FRAUD_AUTH_WRITES: is authenticated, but no caller could authenticate/],
    ['authenticated reads nobody could make', { FRAUD_AUTH_READS: 'authenticated' }, /^FRAUD_AUTH_READS: is authenticated, but no caller could authenticate/],
    ['reads closer than writes', { FRAUD_AUTH_TOKENS_FILE: '/t', FRAUD_AUTH_READS: 'authenticated', FRAUD_AUTH_WRITES: 'open' }, /^FRAUD_AUTH_WRITES: is open while FRAUD_AUTH_READS is authenticated/],
    ['a policy that does not exist', { FRAUD_AUTH_WRITES: 'tokens' }, /^FRAUD_AUTH_WRITES: must be one of open, authenticated/],
    ['a reload interval of 0', { FRAUD_TLS_RELOAD_SECONDS: '0' }, /^FRAUD_TLS_RELOAD_SECONDS: must be a number of seconds from 0.1 to 86400/],
  ];
  for (const [name, env, message] of refusals) {
    it(`should refuse ${name} with one line naming the variable`, () => {
      assert.throws(() => loadConfig(env), (error: unknown) => error instanceof ConfigError && message.test(error.message));
    });
  }
});
