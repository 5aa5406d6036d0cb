import assert from 'node:assert/strict';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SCORE_BUCKETS } from '../../src/observability/scoreHistogram.js';
import { BUNDLED } from '../helpers/paths.js';
import { sample, scrape } from '../helpers/scrape.js';
import { startTestService, transaction, type TestService } from '../helpers/testService.js';
import { waitFor } from '../helpers/waitFor.js';

/** Every series of `metric` in a scrape, as label text → value. */
function series(text: string, metric: string): Map<string, number> {
  const found = new Map<string, number>();
  for (const match of text.matchAll(new RegExp(`^${metric}\\{([^}]*)\\} (\\S+)$`, 'gm'))) found.set(match[1] as string, Number(match[2]));
  return found;
}

describe('prediction metrics: labelled with the model version, a score histogram, only the serving versions', () => {
  let folder: string;
  let running: TestService;
  let version: string;
  const manifestPath = (): string => join(folder, 'fraud-binary.json');

  before(async () => {
    folder = await mkdtemp(join(tmpdir(), 'fraud-prediction-metrics-'));
    await copyFile(join(BUNDLED, 'fraud-binary.json'), manifestPath());
    await copyFile(join(BUNDLED, 'fraud-binary.onnx'), join(folder, 'fraud-binary.onnx'));
    version = (JSON.parse(await readFile(manifestPath(), 'utf8')) as { version: string }).version;
    // Details off (production's default): the store URL stays out of fraud_model_info too.
    running = await startTestService({ FRAUD_BINARY_MODEL_URI: manifestPath(), FRAUD_MODEL_POLL_SECONDS: '1', FRAUD_MODEL_INFO_DETAILS: '' });
  });

  after(async () => {
    await running.stop();
    await rm(folder, { recursive: true, force: true });
  });

  it('should count every scored transaction in fraud_prediction_score{task,version}, in the bucket its answer falls in', async () => {
    const told: number[] = [];
    for (const amount of [5, 40, 120, 300, 900]) told.push((await running.client.predict(transaction({ txAmount: amount, transactionId: amount }))).fraudProbability);
    const batch = await running.client.predictBatch(Array.from({ length: 40 }, (_, index) => transaction({ transactionId: 1_000 + index, customerId: 100 + index, txAmount: 10 + index * 25 })));
    told.push(...batch.predictions.map((prediction) => prediction.fraudProbability));
    const text = await scrape(running.service.metricsPort);
    const labels = `task="binary",version="${version}"`;
    assert.equal(sample(text, `fraud_prediction_score_count{${labels}}`), told.length);
    assert.ok(Math.abs((sample(text, `fraud_prediction_score_sum{${labels}}`) ?? Number.NaN) - told.reduce((sum, score) => sum + score, 0)) < 1e-9);
    for (const bound of SCORE_BUCKETS) {
      assert.equal(sample(text, `fraud_prediction_score_bucket{${labels},le="${bound}"}`), told.filter((score) => score <= bound).length, `le=${bound}`);
    }
    assert.equal(sample(text, `fraud_prediction_score_bucket{${labels},le="+Inf"}`), told.length);
    assert.ok(new Set(told.map((score) => SCORE_BUCKETS.findIndex((bound) => score <= bound))).size >= 2, 'answers in more than one bucket');
    const predicted = [...series(text, 'fraud_predictions_total').entries()].filter(([key]) => key.startsWith('task="binary"'));
    assert.deepEqual(predicted.map(([key]) => key.replace(/,class="[^"]+"/, '')).filter((key, index, all) => all.indexOf(key) === index), [`task="binary",model="fraud-binary",version="${version}"`]);
    assert.equal(predicted.reduce((sum, [, value]) => sum + value, 0), told.length);
  });

  it('should leave the store URL out of fraud_model_info unless FRAUD_MODEL_INFO_DETAILS is on', async () => {
    const info = [...series(await scrape(running.service.metricsPort), 'fraud_model_info').keys()];
    assert.equal(info.length, 2);
    for (const labels of info) assert.match(labels, /,source=""$/, labels);
    assert.ok(!info.join('\n').includes(folder));
  });

  it('should drop a replaced version\'s series once its last call has finished, and count the new version from zero', async () => {
    const canary = `${version}-canary`;
    const manifest = JSON.parse(await readFile(manifestPath(), 'utf8')) as Record<string, unknown>;
    await writeFile(manifestPath(), JSON.stringify({ ...manifest, version: canary }));
    await waitFor('the canary serving', () => running.service.registry.current('binary')?.identity.version === canary);
    await running.client.predict(transaction({ txAmount: 77, transactionId: 5_000 }));
    const text = await waitFor('the old version\'s series gone', async () => {
      const scraped = await scrape(running.service.metricsPort);
      return new RegExp(`task="binary"[^}]*version="${version.replaceAll('.', '\\.')}"`).test(scraped) ? undefined : scraped;
    });
    assert.equal(sample(text, `fraud_prediction_score_count{task="binary",version="${canary}"}`), 1);
    const predicted = [...series(text, 'fraud_predictions_total').entries()].filter(([key]) => key.startsWith('task="binary"'));
    assert.equal(predicted.reduce((sum, [, value]) => sum + value, 0), 1);
    assert.ok(predicted.every(([key]) => key.includes(`version="${canary}"`)));
    // The scenario model was not replaced: its series stay.
    assert.ok([...series(text, 'fraud_model_info').keys()].some((key) => key.startsWith('task="multiclass"')));
  });
});
