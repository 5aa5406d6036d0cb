import { Client, credentials, type ServiceError } from '@grpc/grpc-js';

/**
 * One Predict with a stock grpc-js client and no channel options, in a
 * process of its own: grpc-js asks the DNS server named in a dns:// target
 * (and reads a service config from its TXT record) only when
 * GRPC_NODE_USE_ALTERNATIVE_RESOLVER=true is set before it loads.
 *
 * usage: node stockPredict.js <target> <PredictRequest as hex>
 * Prints one JSON line: the status code (0 for OK) and details.
 */
const [target, requestHex] = process.argv.slice(2);
if (target === undefined || requestHex === undefined) throw new Error('usage: stockPredict.js <target> <request as hex>');
const client = new Client(target, credentials.createInsecure());
const identity = (bytes: Buffer): Buffer => bytes;
client.makeUnaryRequest('/fraud.v1.FraudService/Predict', identity, identity, Buffer.from(requestHex, 'hex'), { deadline: Date.now() + 10_000 }, (error: ServiceError | null) => {
  process.stdout.write(`${JSON.stringify({ code: error?.code ?? 0, details: error?.details ?? '' })}\n`);
  client.close();
});
