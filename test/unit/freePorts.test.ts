import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { startOnFreePorts } from '../helpers/spawnService.js';

function listen(port: number): Promise<Server> {
  return new Promise((resolveListen, rejectListen) => {
    const server = createServer();
    server.once('error', rejectListen);
    server.listen(port, '127.0.0.1', () => {
      resolveListen(server);
    });
  });
}

describe('the test helper starting a server on free ports (startOnFreePorts)', () => {
  it('should start again on other ports when a port was taken before the server bound it', async () => {
    const taken: Server[] = [];
    const tried: number[][] = [];
    try {
      const server = await startOnFreePorts(2, async (ports) => {
        tried.push([...ports]);
        // Another process of the machine takes the first port between the check and the bind.
        if (tried.length === 1) taken.push(await listen(ports[0] as number));
        return listen(ports[0] as number);
      });
      taken.push(server);
      assert.equal(tried.length, 2);
      assert.equal(new Set(tried[0]).size, 2, 'the ports of one attempt are distinct');
    } finally {
      for (const server of taken) server.close();
    }
  });

  it('should throw the error of the last attempt after its attempts', async () => {
    let attempts = 0;
    await assert.rejects(
      startOnFreePorts(1, () => {
        attempts += 1;
        return Promise.reject(new Error(`attempt ${attempts}`));
      }, 3),
      /attempt 3/,
    );
    assert.equal(attempts, 3);
  });
});
