import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNatsBus, type NatsBus } from '@parley/bus/nats';
import { subjects } from '@parley/protocol';
import { startNats, type ServerProcess } from '@parley/testkit';
import { createHub } from '../../src/domain/hub.ts';

const decoder = new TextDecoder();

async function until(condition: () => boolean, what: string, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
const encoder = new TextEncoder();

/**
 * Direct-message subscriptions of one tenant on one gateway: one per user up to the limit, then
 * one wildcard. A real nats-server; a second connection publishes without pause while the hub
 * switches, and every user must receive every message sent to it exactly once, in order.
 */
describe('hub - direct-message subscriptions per tenant', () => {
  let nats: ServerProcess;
  let gateway: NatsBus;
  let sender: NatsBus;

  beforeAll(async () => {
    nats = await startNats();
    gateway = await createNatsBus({ servers: nats.url, name: 'gateway' });
    sender = await createNatsBus({ servers: nats.url, name: 'sender' });
  });
  afterAll(async () => {
    await gateway?.close();
    await sender?.close();
    await nats?.stop();
  });

  it('user subscriptions - past the limit one wildcard replaces them without losing or doubling a message', async () => {
    const received = new Map<string, number[]>();
    const hub = createHub(gateway, {
      publish(topic, data) {
        const list = received.get(topic) ?? [];
        list.push(Number(decoder.decode(data)));
        received.set(topic, list);
      },
    }, {}, { userSubscriptionsPerTenant: 3 });
    const users = ['u1', 'u2', 'u3'];
    await Promise.all(users.map((u) => hub.addUser('acme', u)));
    expect(hub.userSubscriptionCount()).toBe(3);

    const sent = new Map<string, number>(users.map((u) => [u, 0]));
    let sending = true;
    const publishing = (async () => {
      while (sending) {
        for (const u of users) {
          const n = sent.get(u)! + 1;
          sent.set(u, n);
          sender.publish(subjects.user('acme', u), encoder.encode(String(n))).catch(() => {});
        }
        await new Promise((r) => setImmediate(r));
      }
    })();
    // Messages flow through the per-user subscriptions before the switch and the wildcard after it.
    const receivedBy = (u: string) => received.get(subjects.user('acme', u))?.length ?? 0;
    await until(() => users.every((u) => receivedBy(u) >= 10), 'ten messages per user before the switch');
    // The fourth distinct user switches the tenant to one wildcard subscription.
    await hub.addUser('acme', 'u4');
    expect(hub.userSubscriptionCount()).toBe(1);
    expect(hub.wildcardTenantCount()).toBe(1);
    const sentAtSwitch = new Map(sent);
    await until(() => users.every((u) => receivedBy(u) >= sentAtSwitch.get(u)! + 10), 'ten messages per user after the switch');
    sending = false;
    await publishing;
    await sender.flush();
    await gateway.flush();
    await until(() => users.every((u) => receivedBy(u) >= sent.get(u)!), 'every message sent is received');

    for (const u of users) {
      const got = received.get(subjects.user('acme', u)) ?? [];
      expect(got.length).toBeGreaterThan(20);
      expect(got).toEqual(Array.from({ length: sent.get(u)! }, (_, i) => i + 1));
    }
    // Another tenant keeps its own per-user subscriptions.
    await hub.addUser('other', 'x');
    expect(hub.userSubscriptionCount()).toBe(2);

    for (const u of [...users, 'u4']) hub.removeUser('acme', u);
    hub.removeUser('other', 'x');
    expect(hub.userSubscriptionCount()).toBe(0);
    expect(hub.wildcardTenantCount()).toBe(0);
    expect(gateway.subscriptionCount()).toBe(0);
  });

  it('user subscriptions - a second connection of a user shares its subscription; the last one releases it', async () => {
    const hub = createHub(gateway, { publish() {} }, {}, { userSubscriptionsPerTenant: 3 });
    await hub.addUser('acme', 'same');
    await hub.addUser('acme', 'same');
    expect(gateway.subscriptionCount()).toBe(1);
    hub.removeUser('acme', 'same');
    expect(gateway.subscriptionCount()).toBe(1);
    hub.removeUser('acme', 'same');
    expect(gateway.subscriptionCount()).toBe(0);
  });
});
