import type { ManifestJson, ModelFiles } from './modelFixtures.js';
import { sha256 } from './modelFixtures.js';

/**
 * A binary model under 1 KiB on disk whose onnxruntime session holds a table
 * of `rows` probability pairs (8 bytes each, 32 MiB for 4 Mi rows): the table
 * is computed from constants, so onnxruntime folds it into the session when
 * the session is built. A session that is never released natively shows in
 * the process's RSS, and nothing on the JavaScript side is large enough to
 * make V8 collect it sooner. Lookups cost next to nothing, so it serves under
 * load like the real models.
 *
 *   table[i] = [1 - p(i), p(i)] with p(i) = frac(i × multiplier), in float32
 *   input [N, 3] ─Gather(column 0)→ amount ─Clip(0, rows-1)→ ─Cast(int64)→ row ─Gather(table)→ probabilities [N, 2]
 *
 * `onlyRunsOfItsSamples`: the input is first reshaped to [4, 3], the number of its samples,
 * so the model passes the loader's sample check and onnxruntime fails every run of
 * another number of rows (a model that breaks on real traffic only).
 */
export function largeSessionModel(version: string, rows: number, multiplier: number, options: { readonly onlyRunsOfItsSamples?: boolean } = {}): ModelFiles {
  const sampleAmounts = [0, 5, 250, 900];
  const model = onnxModel(rows, multiplier, options.onlyRunsOfItsSamples === true ? sampleAmounts.length : undefined);
  const manifest: ManifestJson = {
    schema_version: 1,
    name: 'fraud-binary',
    task: 'binary',
    version,
    created_at: '2026-11-29T00:00:00Z',
    model_file: 'fraud-binary.onnx',
    sha256: sha256(model),
    feature_spec_version: 1,
    features: ['TX_AMOUNT', 'TX_DURING_WEEKEND', 'TX_DURING_NIGHT'],
    input: { name: 'input', element_type: 'float32' },
    outputs: { probabilities: 'probabilities' },
    classes: [
      { id: 0, label: 'simple_transaction' },
      { id: 1, label: 'FRAUD' },
    ],
    threshold: 0.5,
    samples: sampleAmounts.map((amount) => {
      const fraud = fraudProbability(amount, multiplier);
      return { features: { TX_AMOUNT: amount, TX_DURING_WEEKEND: 0, TX_DURING_NIGHT: 0 }, probabilities: [Math.fround(1 - fraud), fraud] };
    }),
    sample_tolerance: 1e-6,
  };
  return { manifest, model };
}

/** p(row) as the graph computes it: float32 products and differences, which Math.fround reproduces exactly. */
function fraudProbability(row: number, multiplier: number): number {
  const scaled = Math.fround(Math.fround(row) * Math.fround(multiplier));
  return Math.fround(scaled - Math.floor(scaled));
}

const FLOAT = 1;
const INT64 = 7;
const ATTRIBUTE_INT = 2;

function onnxModel(rows: number, multiplier: number, onlyRowsOf: number | undefined): Uint8Array {
  const reshape =
    onlyRowsOf === undefined
      ? []
      : [field(1, node('Reshape', ['input', 'fixed_shape'], ['checked_input'], [])), field(5, tensor('fixed_shape', INT64, [2], concat([int64Bytes(onlyRowsOf), int64Bytes(3)])))];
  const graph = concat([
    ...reshape,
    field(1, node('Range', ['zero', 'row_count', 'one'], ['row_numbers'], [])),
    field(1, node('Mul', ['row_numbers', 'multiplier'], ['scaled'], [])),
    field(1, node('Floor', ['scaled'], ['whole'], [])),
    field(1, node('Sub', ['scaled', 'whole'], ['fraction'], [])),
    field(1, node('Unsqueeze', ['fraction', 'column_axis'], ['fraud_column'], [])),
    field(1, node('Sub', ['one', 'fraud_column'], ['legit_column'], [])),
    field(1, node('Concat', ['legit_column', 'fraud_column'], ['table'], [intAttribute('axis', 1)])),
    field(1, node('Gather', [onlyRowsOf === undefined ? 'input' : 'checked_input', 'amount_column'], ['amount'], [intAttribute('axis', 1)])),
    field(1, node('Clip', ['amount', 'zero', 'highest_row'], ['clipped'], [])),
    field(1, node('Cast', ['clipped'], ['row'], [intAttribute('to', INT64)])),
    field(1, node('Gather', ['table', 'row'], ['probabilities'], [intAttribute('axis', 0)])),
    field(2, text('large_session_model')),
    field(5, tensor('amount_column', INT64, [], int64Bytes(0))),
    field(5, tensor('column_axis', INT64, [1], int64Bytes(1))),
    field(5, tensor('zero', FLOAT, [], floatBytes(new Float32Array([0])))),
    field(5, tensor('one', FLOAT, [], floatBytes(new Float32Array([1])))),
    field(5, tensor('row_count', FLOAT, [], floatBytes(new Float32Array([rows])))),
    field(5, tensor('highest_row', FLOAT, [], floatBytes(new Float32Array([rows - 1])))),
    field(5, tensor('multiplier', FLOAT, [], floatBytes(new Float32Array([multiplier])))),
    field(11, valueInfo('input', FLOAT, ['N', 3])),
    field(12, valueInfo('probabilities', FLOAT, ['N', 2])),
  ]);
  return modelProto(graph);
}

function modelProto(graph: Uint8Array): Uint8Array {
  return concat([
    varintField(1, 8), // ir_version
    field(2, text('fraud-scoring tests')),
    field(7, graph),
    field(8, concat([field(1, text('')), varintField(2, 13)])), // opset ai.onnx 13
  ]);
}

function node(opType: string, inputs: readonly string[], outputs: readonly string[], attributes: readonly Uint8Array[]): Uint8Array {
  return concat([
    ...inputs.map((name) => field(1, text(name))),
    ...outputs.map((name) => field(2, text(name))),
    field(3, text(`${opType}_${outputs[0] ?? ''}`)),
    field(4, text(opType)),
    ...attributes.map((attribute) => field(5, attribute)),
  ]);
}

function intAttribute(name: string, value: number): Uint8Array {
  return concat([field(1, text(name)), varintField(3, value), varintField(20, ATTRIBUTE_INT)]);
}

function tensor(name: string, dataType: number, dims: readonly number[], raw: Uint8Array): Uint8Array {
  return concat([...dims.map((dim) => varintField(1, dim)), varintField(2, dataType), field(8, text(name)), field(9, raw)]);
}

function valueInfo(name: string, elementType: number, shape: readonly (number | string)[]): Uint8Array {
  const dims = shape.map((dim) => field(1, typeof dim === 'number' ? varintField(1, dim) : field(2, text(dim))));
  const tensorType = concat([varintField(1, elementType), field(2, concat(dims))]);
  return concat([field(1, text(name)), field(2, field(1, tensorType))]);
}

function floatBytes(values: Float32Array): Uint8Array {
  const bytes = new Uint8Array(values.length * 4);
  const view = new DataView(bytes.buffer);
  values.forEach((value, index) => {
    view.setFloat32(index * 4, value, true);
  });
  return bytes;
}

function int64Bytes(value: number): Uint8Array {
  const bytes = new Uint8Array(8);
  new DataView(bytes.buffer).setBigInt64(0, BigInt(value), true);
  return bytes;
}

function text(value: string): Uint8Array {
  return new TextEncoder().encode(value);
}

/** A length-delimited field (wire type 2). */
function field(number: number, payload: Uint8Array): Uint8Array {
  return concat([varint(number * 8 + 2), varint(payload.length), payload]);
}

/** A varint field (wire type 0). */
function varintField(number: number, value: number): Uint8Array {
  return concat([varint(number * 8), varint(value)]);
}

function varint(value: number): Uint8Array {
  const bytes: number[] = [];
  let rest = value;
  while (rest >= 0x80) {
    bytes.push((rest % 0x80) | 0x80);
    rest = Math.floor(rest / 0x80);
  }
  bytes.push(rest);
  return Uint8Array.from(bytes);
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  return Buffer.concat(parts);
}
