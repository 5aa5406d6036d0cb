import assert from 'node:assert/strict';
import { runProgram } from '../helpers/tools.js';

describe('the test helpers running a command-line tool (runProgram, runTool)', () => {
  it('should give the exit code and output of a program that exits without reading its input, not an EPIPE error', async () => {
    // More than a pipe holds: the write cannot finish before the program has exited.
    const result = await runProgram('bash', ['-c', 'echo refused >&2; exit 3'], { stdin: 'x'.repeat(1 << 20) });
    assert.deepEqual(result, { code: 3, stdout: '', stderr: 'refused\n' });
  });

  it('should write the input to a program that reads it, and give it none (end of input) otherwise', async () => {
    assert.deepEqual(await runProgram('cat', [], { stdin: 'line\n' }), { code: 0, stdout: 'line\n', stderr: '' });
    assert.deepEqual(await runProgram('wc', ['-c']), { code: 0, stdout: '0\n', stderr: '' });
  });
});
