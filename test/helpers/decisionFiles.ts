import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { DecisionRecord } from '../../src/gen/fraud/v1/decision_record.js';

/** Every decision record the file sink wrote to `dir` (finished and open files), in the order written. */
export async function decisionRecordsIn(dir: string): Promise<DecisionRecord[]> {
  const records: DecisionRecord[] = [];
  for (const name of (await readdir(dir)).sort()) {
    if (!name.includes('.jsonl.gz')) continue;
    // One gzip member per write: gunzip reads the concatenation as one stream.
    const text = gunzipSync(await readFile(join(dir, name))).toString('utf8');
    for (const line of text.split('\n')) if (line !== '') records.push(DecisionRecord.fromJSON(JSON.parse(line)));
  }
  return records;
}

/** Records by `<method> <transaction id>`, so the same calls made to two services can be matched. */
export function byCall(records: readonly DecisionRecord[]): Map<string, DecisionRecord> {
  return new Map(records.map((record) => [`${record.method} ${String(record.transactionId)}`, record]));
}
