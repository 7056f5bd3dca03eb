import { createMemoryBus } from '../src/index.ts';
import { runBusContract } from './bus-contract.ts';

runBusContract('memory', async () => {
  // One process, one bus: every "node" is the same instance.
  const bus = createMemoryBus();
  return {
    connect: async () => bus,
    sync: async () => {},
    outage: async () => bus.disconnectForTest(true),
    recover: async () => bus.disconnectForTest(false),
    teardown: () => bus.close(),
  };
});
