/** The Prometheus text the service exposes on its metrics port. */
export async function scrape(metricsPort: number): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
  return response.text();
}

/** Value of one series in Prometheus text, e.g. sample(text, 'fraud_grpc_requests_total{method="fraud.v1.FraudService/Predict",code="OK"}'). */
export function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}
