import assert from 'node:assert/strict';
import { spawnService } from '../helpers/spawnService.js';

const WARNING = 'unknown FRAUD_ variable ignored (a typo?)';

describe('the service process and FRAUD_ variables it does not know', () => {
  it('should warn once per unknown FRAUD_ variable, naming it, and start anyway', async () => {
    // A typo of FRAUD_GRPC_PORT and one of FRAUD_LOG_LEVEL; NOT_FRAUD_X is not its prefix.
    const service = await spawnService({ FRAUD_GRPC_PROT: '50051', FRAUD_LOGLEVEL: 'debug', NOT_FRAUD_X: '1' });
    try {
      await service.waitForLog('serving');
      const warned = service.logs.filter((record) => record.msg === WARNING);
      assert.deepEqual(warned.map((record) => [record.level, record.variable]).sort(), [
        ['warn', 'FRAUD_GRPC_PROT'],
        ['warn', 'FRAUD_LOGLEVEL'],
      ]);
    } finally {
      assert.equal(await service.kill(), 0);
    }
  });
});
