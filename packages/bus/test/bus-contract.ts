import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ParleyError, subjects } from '@parley/protocol';
import { HEADER_MSG_ID, HEADER_ORIGIN, HEADER_TIMESTAMP, HEADER_TRACEPARENT, type Bus, type BusMessage, type BusState } from '../src/index.ts';

/** What the contract needs from an implementation: nodes on one shared backend, and outages. */
export interface BusHarness {
  /** A bus "node" on the shared backend (NATS: a new connection; memory: the one shared bus). */
  connect(name: string): Promise<Bus>;
  /** Resolves once every subscription made so far on `bus` is active on the backend. */
  sync(bus: Bus): Promise<void>;
  /** Takes the backend down; resolves once every node has noticed. */
  outage(): Promise<void>;
  /** Brings it back; resolves once every node is `connected` again. */
  recover(): Promise<void>;
  teardown(): Promise<void>;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const bytes = (s: string) => encoder.encode(s);
const text = (m: BusMessage) => decoder.decode(m.data);

/** Records messages on a subscription; `next(n)` resolves once `n` have arrived in total. */
function record(bus: Bus, subject: string) {
  const messages: BusMessage[] = [];
  let waiter: { n: number; resolve: () => void } | undefined;
  const subscription = bus.subscribe(subject, (m) => {
    messages.push(m);
    if (waiter && messages.length >= waiter.n) waiter.resolve();
  });
  const until = (n: number, timeoutMs = 5_000) =>
    new Promise<void>((resolve, reject) => {
      if (messages.length >= n) return resolve();
      const timer = setTimeout(() => reject(new Error(`${subject}: ${messages.length}/${n} messages after ${timeoutMs} ms`)), timeoutMs);
      waiter = { n, resolve: () => (clearTimeout(timer), (waiter = undefined), resolve()) };
    });
  return { messages, subscription, until, texts: () => messages.map(text) };
}

async function expectUnavailable(promise: Promise<unknown>) {
  const error = await promise.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(error).toBeInstanceOf(ParleyError);
  expect((error as ParleyError).code).toBe('unavailable');
}

const NAMESPACES = ['acme', 'evil', 'acme-2', 'a'] as const;
const HOSTILE = ['*', '>', '.', '..', 'a.b', 'lobby', 'lobby.*', 'lobby.>', '*.>', 'a b', ' ', '\t', 'ünïcødé', '🙂', 'chat.acme.bG9iYnk', 'bG9iYnk', 'acme.lobby'];
const nameArb = fc.oneof(
  fc.constantFrom(...HOSTILE),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 64 }),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 16 }),
  fc.string({ unit: fc.constantFrom('.', '*', '>', ' ', 'a', 'é'), minLength: 1, maxLength: 8 }),
);
const kindArb = fc.constantFrom('room', 'user', 'presence');
const targetArb = fc.record({ kind: kindArb, ns: fc.constantFrom(...NAMESPACES), name: nameArb });
type Target = { kind: 'room' | 'user' | 'presence'; ns: string; name: string };
const subjectOf = (t: Target) => subjects[t.kind](t.ns, t.name);
const PREFIX = { room: 'chat', user: 'user', presence: 'presence' } as const;

/**
 * The bus contract, written once and run against every implementation. `setup` starts the
 * backend; tests use distinct subjects, so they share it; the last test closes a node.
 */
export function runBusContract(name: string, setup: () => Promise<BusHarness>) {
  describe(`${name} bus contract`, () => {
    let harness: BusHarness;
    let a: Bus;
    let b: Bus;
    let n = 0;
    const topic = () => `t${++n}`;

    beforeAll(async () => {
      harness = await setup();
      a = await harness.connect('node-a');
      b = await harness.connect('node-b');
    });
    afterAll(async () => {
      await harness?.teardown();
    });

    it('bus - delivers to exact, * and > subscribers, and not to others', async () => {
      const t = topic();
      const exact = record(b, `${t}.room.x`);
      const star = record(b, `${t}.room.*`);
      const rest = record(b, `${t}.>`);
      const other = record(b, `${t}.room.y`);
      await harness.sync(b);
      await a.publish(`${t}.room.x`, bytes('1'));
      await a.publish(`${t}.room.x.deep`, bytes('2'));
      await a.publish(`${t}.room.y`, bytes('sentinel'));
      await Promise.all([exact.until(1), star.until(2), rest.until(3), other.until(1)]);
      expect(exact.texts()).toEqual(['1']);
      expect(star.texts()).toEqual(['1', 'sentinel']);
      expect(rest.texts()).toEqual(['1', '2', 'sentinel']);
      expect(other.texts()).toEqual(['sentinel']);
      expect(star.messages[0]?.subject).toBe(`${t}.room.x`);
      expect(rest.messages[1]?.subject).toBe(`${t}.room.x.deep`);
      for (const r of [exact, star, rest, other]) r.subscription.unsubscribe();
    });

    it('bus - headers round trip with case-sensitive keys; none means {}', async () => {
      const t = topic();
      const got = record(b, t);
      await harness.sync(b);
      const headers = {
        [HEADER_MSG_ID]: 'm-1',
        [HEADER_ORIGIN]: 'gw-a',
        [HEADER_TIMESTAMP]: '1700000000000',
        [HEADER_TRACEPARENT]: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
        'X-Mixed-Case': 'Value With Spaces',
      };
      await a.publish(t, bytes('with'), headers);
      await a.publish(t, bytes('without'));
      await got.until(2);
      expect(got.messages[0]?.headers).toEqual(headers);
      expect(got.messages[1]?.headers).toEqual({});
      got.subscription.unsubscribe();
    });

    it('bus - preserves publish order per publisher across 10k messages, on both nodes', async () => {
      const t = topic();
      const remote = record(b, t);
      const local = record(a, t);
      await Promise.all([harness.sync(a), harness.sync(b)]);
      const count = 10_000;
      const publishes: Promise<void>[] = [];
      for (let i = 0; i < count; i++) publishes.push(a.publish(t, bytes(String(i))));
      await Promise.all(publishes);
      await Promise.all([remote.until(count, 15_000), local.until(count, 15_000)]);
      const expected = Array.from({ length: count }, (_, i) => String(i));
      expect(remote.texts()).toEqual(expected);
      expect(local.texts()).toEqual(expected);
      remote.subscription.unsubscribe();
      local.subscription.unsubscribe();
    });

    it('bus - unsubscribe stops delivery, is idempotent and lowers subscriptionCount', async () => {
      const t = topic();
      const before = b.subscriptionCount();
      const gone = record(b, `${t}.x`);
      const kept = record(b, `${t}.*`);
      expect(b.subscriptionCount()).toBe(before + 2);
      await harness.sync(b);
      gone.subscription.unsubscribe();
      gone.subscription.unsubscribe();
      expect(b.subscriptionCount()).toBe(before + 1);
      await harness.sync(b);
      await a.publish(`${t}.x`, bytes('after'));
      await kept.until(1);
      expect(gone.messages).toHaveLength(0);
      kept.subscription.unsubscribe();
      expect(b.subscriptionCount()).toBe(before);
    });

    it('bus - the handler is never called inside publish', async () => {
      const t = topic();
      let inside = false;
      let calledInside = false;
      const got = record(a, t);
      const probe = a.subscribe(t, () => (calledInside ||= inside));
      await harness.sync(a);
      inside = true;
      const published = a.publish(t, bytes('x'));
      inside = false;
      await published;
      await got.until(1);
      expect(calledInside).toBe(false);
      probe.unsubscribe();
      got.subscription.unsubscribe();
    });

    it('bus - a throwing handler does not stop delivery to others or to itself', async () => {
      const t = topic();
      let thrown = 0;
      const bad = b.subscribe(t, () => {
        thrown++;
        throw new Error('handler bug');
      });
      const good = record(b, t);
      await harness.sync(b);
      await a.publish(t, bytes('1'));
      await a.publish(t, bytes('2'));
      await good.until(2);
      expect(good.texts()).toEqual(['1', '2']);
      expect(thrown).toBe(2);
      bad.unsubscribe();
      good.subscription.unsubscribe();
    });

    it('bus - two nodes see each other\'s publishes', async () => {
      const t = topic();
      const onA = record(a, t);
      const onB = record(b, t);
      await Promise.all([harness.sync(a), harness.sync(b)]);
      await a.publish(t, bytes('from-a'));
      await b.publish(t, bytes('from-b'));
      await Promise.all([onA.until(2), onB.until(2)]);
      expect(onA.texts().sort()).toEqual(['from-a', 'from-b']);
      expect(onB.texts().sort()).toEqual(['from-a', 'from-b']);
      onA.subscription.unsubscribe();
      onB.subscription.unsubscribe();
    });

    it('bus - once flush resolves, a new subscription gets the next publish from another node', async () => {
      for (let i = 0; i < 20; i++) {
        const t = topic();
        const onB = record(b, t);
        await b.flush();
        await a.publish(t, bytes(`n${i}`));
        await onB.until(1);
        expect(onB.texts()).toEqual([`n${i}`]);
        onB.subscription.unsubscribe();
      }
    });

    it('bus - hostile room and user names never reach another room, user or tenant', async () => {
      await fc.assert(
        fc.asyncProperty(targetArb, targetArb, fc.boolean(), async (victim, attacker, tenantWide) => {
          const victimSubject = tenantWide ? `${PREFIX[victim.kind]}.${victim.ns}.*` : subjectOf(victim);
          const attackerSubject = subjectOf(attacker);
          // Structure: exactly three tokens, the last one base64url (no `.`, `*`, `>`, space).
          for (const s of [subjectOf(victim), attackerSubject]) {
            const tokens = s.split('.');
            expect(tokens).toHaveLength(3);
            expect(tokens[2]).toMatch(/^[A-Za-z0-9_-]+$/);
          }
          const reaches = attacker.kind === victim.kind && attacker.ns === victim.ns && (tenantWide || attacker.name === victim.name);
          const got = record(b, victimSubject);
          try {
            await harness.sync(b);
            await a.publish(attackerSubject, bytes('probe'));
            // Same publisher, so the sentinel arrives after the probe if the probe arrives at all.
            await a.publish(subjectOf(victim), bytes('sentinel'));
            await got.until(1);
            const last = got.texts().at(-1);
            if (last !== 'sentinel') await got.until(2);
            expect(got.texts()).toEqual(reaches ? ['probe', 'sentinel'] : ['sentinel']);
          } finally {
            got.subscription.unsubscribe();
          }
        }),
        { numRuns: 150 },
      );
    });

    it('bus - publish while the backend is down rejects with unavailable; subscriptions resume after it returns', async () => {
      const t = topic();
      const existing = record(b, `${t}.old`);
      await harness.sync(b);
      const seen: BusState[] = [];
      const off = a.onStateChange((s) => seen.push(s));
      const count = b.subscriptionCount();

      await harness.outage();
      expect(a.state).toBe('reconnecting');
      expect(b.state).toBe('reconnecting');
      await expectUnavailable(a.publish(`${t}.old`, bytes('lost')));
      // A subscription taken during the outage (a member joining) is established on return.
      const during = record(b, `${t}.new`);
      expect(b.subscriptionCount()).toBe(count + 1);

      await harness.recover();
      expect(a.state).toBe('connected');
      expect(b.state).toBe('connected');
      expect(seen[0]).toBe('reconnecting');
      expect(seen.at(-1)).toBe('connected');
      off();
      await harness.sync(b);
      await a.publish(`${t}.old`, bytes('again'));
      await a.publish(`${t}.new`, bytes('fresh'));
      await Promise.all([existing.until(1), during.until(1)]);
      expect(existing.texts()).toEqual(['again']);
      expect(during.texts()).toEqual(['fresh']);
      existing.subscription.unsubscribe();
      during.subscription.unsubscribe();
    });

    it('bus - close delivers what was published, then rejects publishes with unavailable', async () => {
      const t = topic();
      const got = record(b, t);
      await harness.sync(b);
      const closing = a.publish(t, bytes('last'));
      const closedStates: BusState[] = [];
      a.onStateChange((s) => closedStates.push(s));
      await a.close();
      await closing;
      await got.until(1);
      expect(got.texts()).toEqual(['last']);
      expect(a.state).toBe('closed');
      expect(closedStates).toEqual(['closed']);
      await expectUnavailable(a.publish(t, bytes('after close')));
      got.subscription.unsubscribe();
    });
  });
}
