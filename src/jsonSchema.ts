import { readFileSync } from 'node:fs';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';

/** A JSON Schema (draft 2020-12) file compiled once; `check` names the first problems found. */
export class JsonSchema {
  private readonly validate: ValidateFunction;

  constructor(path: string) {
    const ajv = new Ajv2020({ allErrors: true, strict: false, validateFormats: false });
    this.validate = ajv.compile(JSON.parse(readFileSync(path, 'utf8')) as object);
  }

  /** Returns undefined when `value` fits the schema, else a one-line description of what does not. */
  check(value: unknown): string | undefined {
    if (this.validate(value)) return undefined;
    return describeErrors(this.validate.errors ?? []);
  }
}

function describeErrors(errors: readonly ErrorObject[]): string {
  return errors
    .slice(0, 5)
    .map((error) => `${error.instancePath === '' ? '(root)' : error.instancePath} ${error.message ?? 'is invalid'}`)
    .join('; ');
}
