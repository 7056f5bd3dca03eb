import { execFile } from 'node:child_process';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Webhook } from 'standardwebhooks';
import { createParleyServer, verifyWebhook, type ParleyServer, type ParleyWebhookEvent } from '@parley/server';
import type { TestClient } from '@parley/testkit';
import { freePort } from '@parley/testkit';
import { connectUser, mintUserToken, productionCommand, REPO_ROOT, ServiceProcess, startCluster, type Cluster } from '../src/index.ts';
import { until } from './support.ts';

const TTL_MS = 3000;
const SWEEP_MS = 500;
let cluster: Cluster;
let server: ParleyServer;
const open: TestClient[] = [];

/** A real HTTP receiver: records every request; can answer 503 ("down") or hold requests unanswered. */
class Receiver {
  /** Accepted requests (answered 2xx). */
  readonly requests: Array<{ headers: IncomingHttpHeaders; body: string }> = [];
  /** Every request that arrived, answered or not. */
  readonly attempts: Array<{ headers: IncomingHttpHeaders; body: string }> = [];
  mode: 'up' | 'down' | 'hang' = 'up';
  readonly held: Array<() => void> = [];
  private readonly http: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    req.on('end', () => {
      this.attempts.push({ headers: req.headers, body });
      if (this.mode === 'down') return void res.writeHead(503).end('down');
      if (this.mode === 'hang') return void this.held.push(() => res.writeHead(204).end());
      this.requests.push({ headers: req.headers, body });
      res.writeHead(204).end();
    });
  });
  url = '';
  async start() {
    await new Promise<void>((resolve) => this.http.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.http.address() as AddressInfo).port}/hooks`;
  }
  events(): ParleyWebhookEvent[] {
    return this.requests.map((r) => JSON.parse(r.body) as ParleyWebhookEvent);
  }
  async until(ok: (events: ParleyWebhookEvent[]) => boolean, timeoutMs: number, what: string) {
    const deadline = Date.now() + timeoutMs;
    while (!ok(this.events())) {
      if (Date.now() > deadline) throw new Error(`receiver: ${what} not within ${timeoutMs} ms; got ${JSON.stringify(this.events().map((e) => `${e.type} ${e.data.room} ${e.data.user}`))}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  async stop() {
    this.http.closeAllConnections();
    await new Promise((r) => this.http.close(r));
  }
}

beforeAll(async () => {
  cluster = await startCluster({
    gateways: 2,
    env: {
      PARLEY_PRESENCE_TTL_MS: String(TTL_MS),
      PARLEY_PRESENCE_SWEEP_MS: String(SWEEP_MS),
      PARLEY_LOG_LEVEL: 'warn',
      PARLEY_DRAIN_MS: '200',
      // Tests deliver to a receiver on loopback over plain HTTP: the operator's explicit opt-in.
      PARLEY_WEBHOOKS_ALLOW_HTTP: 'true',
      PARLEY_WEBHOOKS_ALLOW_PRIVATE_ADDRESSES: 'true',
    },
    webhooksEnv: { PARLEY_WEBHOOKS_ACK_WAIT_MS: '3000', PARLEY_WEBHOOKS_BACKOFF_BASE_MS: '100', PARLEY_WEBHOOKS_BACKOFF_CAP_MS: '1000', PARLEY_WEBHOOKS_TIMEOUT_MS: '2000' },
  });
  server = createParleyServer({ url: cluster.auth.url, presenceUrl: cluster.presence.url, apiKey: cluster.demoApiKey });
}, 90_000);
afterAll(async () => {
  await Promise.all(open.map((c) => c.close()));
  await cluster?.stop();
});

async function member(user: string, gateway: number, rooms: string[]) {
  const c = await connectUser(cluster.gateways[gateway]!, await mintUserToken(cluster, user), rooms);
  open.push(c);
  return c;
}

const summary = (events: ParleyWebhookEvent[], room: string) => events.filter((e) => e.data.room === room).map((e) => (e.data.user === undefined ? e.type : `${e.type} ${e.data.user}`));
/** The stream sequence and place in an event id (`evt_<stream epoch>_<seq>-<index>`): the order Parley recorded the room's events in. */
const recordedOrder = (events: ParleyWebhookEvent[], room: string) =>
  events.filter((e) => e.data.room === room).map((e) => {
    const [seq, index] = e.id.split('_').at(-1)!.split('-').map(Number);
    return seq! * 1000 + index!;
  });
const ascending = (values: number[]) => values.every((v, i) => i === 0 || v > values[i - 1]!);

describe('webhooks', () => {
  it('webhooks - room.occupied, user.online, member.joined, member.left, user.offline and room.vacated reach the endpoint in order, signed per Standard Webhooks and verifiable with its library', async () => {
    const receiver = new Receiver();
    await receiver.start();
    const endpoint = await server.createWebhook({ url: receiver.url, events: ['room.occupied', 'user.online', 'member.joined', 'member.left', 'user.offline', 'room.vacated'], rooms: 'hooked-*' });
    expect(endpoint.secret).toMatch(/^whsec_/);
    expect(await server.listWebhooks()).toEqual([expect.not.objectContaining({ secret: expect.anything() })]);

    const ann = await member('ann', 0, ['hooked-1', 'unhooked']);
    const bo = await member('bo', 1, ['hooked-1']);
    await ann.waitFor((f) => f.type === 'presence.join' && f.user === 'bo');
    ann.send({ type: 'leave', room: 'hooked-1' });
    await receiver.until((e) => summary(e, 'hooked-1').length === 6, 10_000, 'six events');
    bo.send({ type: 'leave', room: 'hooked-1' });
    await receiver.until((e) => summary(e, 'hooked-1').length === 9, 10_000, 'nine events');
    // ann is still in another room (online); bo's only room was this one.
    expect(summary(receiver.events(), 'hooked-1')).toEqual([
      'room.occupied', 'user.online ann', 'member.joined ann', 'user.online bo', 'member.joined bo', 'member.left ann', 'member.left bo', 'user.offline bo', 'room.vacated',
    ]);
    expect(receiver.events().filter((e) => e.data.room === 'unhooked')).toEqual([]);
    expect(ascending(recordedOrder(receiver.events(), 'hooked-1'))).toBe(true);

    for (const request of receiver.requests) {
      const verified = new Webhook(endpoint.secret).verify(request.body, request.headers as Record<string, string>) as ParleyWebhookEvent;
      expect(verified.id).toBe(request.headers['webhook-id']);
      expect(verified).toMatchObject({ tenant: cluster.demoNamespace, time: expect.any(String) });
      expect(verifyWebhook(endpoint.secret, request.body, request.headers)).toEqual(verified);
      expect(() => new Webhook(`whsec_${Buffer.alloc(32, 7).toString('base64')}`).verify(request.body, request.headers as Record<string, string>)).toThrow();
    }
    await server.deleteWebhook(endpoint.id);
    await receiver.stop();
  });

  it('webhooks - the receiver is down, then back: every event arrives, in the room order, none lost', async () => {
    const receiver = new Receiver();
    await receiver.start();
    const endpoint = await server.createWebhook({ url: receiver.url, events: ['member.joined', 'member.left'], rooms: 'outage' });
    receiver.mode = 'down';
    const users = ['u1', 'u2', 'u3', 'u4', 'u5'];
    const clients = [];
    for (const [i, user] of users.entries()) clients.push(await member(user, i % 2, ['outage']));
    for (const c of clients.slice(0, 3)) c.send({ type: 'leave', room: 'outage' });
    // The endpoint's state tells its owner what is going on: failing, why, and what waits.
    let state = (await server.getWebhook(endpoint.id)).state;
    for (const deadline = Date.now() + 10_000; !(state?.lastError && state.pending > 0); ) {
      expect(Date.now(), `state while the receiver is down: ${JSON.stringify(state)}`).toBeLessThan(deadline);
      await new Promise((r) => setTimeout(r, 250));
      state = (await server.getWebhook(endpoint.id)).state;
    }
    expect(state).toMatchObject({ lastFailureAt: expect.any(String), lastError: expect.stringMatching(/HTTP 503/) });
    expect(state.lastSuccessAt).toBeUndefined();
    await new Promise((r) => setTimeout(r, 3000));
    expect(receiver.requests).toHaveLength(0);
    receiver.mode = 'up';
    await receiver.until((e) => summary(e, 'outage').length === 8, 15_000, 'eight events');
    await until(async () => {
      const after = (await server.getWebhook(endpoint.id)).state;
      return after?.pending === 0 && after.lastSuccessAt !== undefined && after.lastSuccessAt > after.lastFailureAt!;
    }, 10_000, 'the state shows the endpoint delivered to and nothing pending');
    const delivered = summary(receiver.events(), 'outage');
    expect([...delivered].sort()).toEqual([...users.map((u) => `member.joined ${u}`), 'member.left u1', 'member.left u2', 'member.left u3'].sort());
    for (const u of ['u1', 'u2', 'u3']) expect(delivered.indexOf(`member.joined ${u}`)).toBeLessThan(delivered.indexOf(`member.left ${u}`));
    expect(ascending(recordedOrder(receiver.events(), 'outage'))).toBe(true);
    expect(new Set(receiver.requests.map((r) => r.headers['webhook-id'])).size).toBe(8);
    await server.deleteWebhook(endpoint.id);
    await receiver.stop();
  });

  it('webhooks - a gateway holding the only members of a room is SIGKILLed: member.left and user.offline once per user, then room.vacated once, within the presence bound', async () => {
    const receiver = new Receiver();
    await receiver.start();
    const endpoint = await server.createWebhook({ url: receiver.url, events: ['room.occupied', 'member.joined', 'member.left', 'user.offline', 'room.vacated'], rooms: 'doomed-room' });
    const doomed = await cluster.addGateway();
    const ghost = await connectUser(doomed, await mintUserToken(cluster, 'ghost'), ['doomed-room']);
    await connectUser(doomed, await mintUserToken(cluster, 'ghost'), ['doomed-room']);
    await connectUser(doomed, await mintUserToken(cluster, 'shade'), ['doomed-room']);
    await receiver.until((e) => summary(e, 'doomed-room').length === 3, 10_000, 'occupied and two joins');
    const killedAt = Date.now();
    await doomed.stop('SIGKILL');
    await ghost.closed;
    await receiver.until((e) => summary(e, 'doomed-room').length === 8, TTL_MS + 5 * SWEEP_MS + 10_000, 'two leaves, two offline and vacated');
    expect(Date.now() - killedAt).toBeLessThan(TTL_MS + 5 * SWEEP_MS + 10_000);
    await new Promise((r) => setTimeout(r, SWEEP_MS * 4));
    const seen = summary(receiver.events(), 'doomed-room');
    expect([...seen].sort()).toEqual([
      'member.joined ghost', 'member.joined shade', 'member.left ghost', 'member.left shade', 'room.occupied', 'room.vacated', 'user.offline ghost', 'user.offline shade',
    ]);
    for (const user of ['ghost', 'shade']) expect(seen.indexOf(`user.offline ${user}`)).toBe(seen.indexOf(`member.left ${user}`) + 1);
    expect(seen[0]).toBe('room.occupied');
    expect(seen.at(-1)).toBe('room.vacated');
    await server.deleteWebhook(endpoint.id);
    await receiver.stop();
  });

  it('webhooks - the dispatcher is SIGKILLed mid-delivery: after its restart the event arrives, with the same webhook-id', async () => {
    const receiver = new Receiver();
    await receiver.start();
    const endpoint = await server.createWebhook({ url: receiver.url, events: ['member.joined'], rooms: 'crash-room' });
    receiver.mode = 'hang';
    await member('cara', 0, ['crash-room']);
    // The delivery is in flight (held unanswered) when the dispatcher dies.
    const deadline = Date.now() + 10_000;
    while (receiver.held.length === 0) {
      if (Date.now() > deadline) throw new Error('no delivery attempt reached the receiver');
      await new Promise((r) => setTimeout(r, 50));
    }
    const firstAttemptId = receiver.attempts[0]!.headers['webhook-id'];
    await cluster.webhooks!.stop('SIGKILL');
    receiver.mode = 'up';
    await cluster.webhooks!.start();
    await receiver.until((e) => summary(e, 'crash-room').length >= 1, 20_000, 'the redelivered event');
    expect(receiver.requests.map((r) => r.headers['webhook-id'])).toEqual([firstAttemptId]);
    await server.deleteWebhook(endpoint.id);
    await receiver.stop();
  });

  it('webhooks - two dispatcher replicas: one delivers, each event once and in its room\'s order; when it is SIGKILLed the standby takes over, nothing lost', async () => {
    const receiver = new Receiver();
    await receiver.start();
    const endpoint = await server.createWebhook({ url: receiver.url, events: ['member.joined', 'member.left'], rooms: 'pair-*' });
    const port = await freePort();
    const second = new ServiceProcess({ ...cluster.webhooks!.options, name: 'webhooks-2', url: `http://127.0.0.1:${port}`, output: 'ignore', env: { ...cluster.webhooks!.options.env, PORT: String(port), PARLEY_WEBHOOKS_ID: 'webhooks-2' } });
    expect(second.options.args).toEqual(productionCommand('webhooks'));
    await second.start();
    const metricOf = async (d: ServiceProcess, pattern: RegExp) => Number((await (await fetch(`${d.url}/metrics`)).text()).match(pattern)?.[1] ?? NaN);
    const okAttempts = async (dispatchers: ServiceProcess[]) =>
      (await Promise.all(dispatchers.map((d) => metricOf(d, /^parley_webhook_attempts_total\{[^}]*result="ok"[^}]*\} (\d+)/m)))).reduce((a, b) => a + b, 0);
    const leaderOf = (d: ServiceProcess) => metricOf(d, /^parley_webhook_leader\S* (\d+)/m);
    const before = await okAttempts([cluster.webhooks!, second]);
    const inOrder = (room: string) => {
      const seen = summary(receiver.events(), room);
      return seen.every((entry) => !entry.startsWith('member.left') || seen.indexOf(entry.replace('left', 'joined')) < seen.indexOf(entry));
    };
    try {
      // The replica that was running holds the lease; the new one stands by.
      expect([await leaderOf(cluster.webhooks!), await leaderOf(second)]).toEqual([1, 0]);
      const clients = [];
      for (let i = 0; i < 12; i++) clients.push(await member(`p${i}`, i % 2, [`pair-${i % 4}`]));
      for (const c of clients) await c.close();
      await receiver.until((e) => e.filter((x) => x.data.room.startsWith('pair-')).length >= 24, 15_000, '24 events');
      await until(async () => (await okAttempts([cluster.webhooks!, second])) - before >= 24, 5_000, 'the attempts counted');
      const ids = receiver.requests.map((r) => r.headers['webhook-id']);
      expect(ids).toHaveLength(24);
      expect(new Set(ids).size).toBe(24);
      expect((await okAttempts([cluster.webhooks!, second])) - before).toBe(24);
      for (let room = 0; room < 4; room++) expect(inOrder(`pair-${room}`), `pair-${room}`).toBe(true);

      // The delivering replica dies: the standby takes the lease once it lapses and delivers what follows.
      await cluster.webhooks!.stop('SIGKILL');
      const late = [];
      for (let i = 0; i < 4; i++) late.push(await member(`q${i}`, i % 2, [`pair-${i}`]));
      for (const c of late) await c.close();
      await receiver.until((e) => e.filter((x) => x.data.room.startsWith('pair-')).length >= 32, 30_000, 'the events after the failover');
      expect(await leaderOf(second)).toBe(1);
      expect(new Set(receiver.requests.map((r) => r.headers['webhook-id'])).size).toBe(receiver.requests.length);
      for (let room = 0; room < 4; room++) expect(inOrder(`pair-${room}`), `pair-${room}`).toBe(true);
    } finally {
      // A stopped replica releases the lease: the cluster's own dispatcher, restarted, takes it at once.
      if (!cluster.webhooks!.running) await cluster.webhooks!.start();
      await second.stop('SIGTERM');
      await until(async () => (await leaderOf(cluster.webhooks!)) === 1, 10_000, 'the cluster dispatcher delivers again');
      await server.deleteWebhook(endpoint.id);
      await receiver.stop();
    }
  });

  it('webhooks - message.published (opt-in): the endpoint that asked gets its rooms\' messages in order, with author, msgId and data', async () => {
    const receiver = new Receiver();
    await receiver.start();
    const endpoint = await server.createWebhook({ url: receiver.url, events: ['message.published'], rooms: 'said-*' });
    // The dispatcher follows the tenant's messages within a second of the endpoint's creation.
    await until(async () => /^parley_webhook_message_tenants\S* 1$/m.test(await (await fetch(`${cluster.webhooks!.url}/metrics`)).text()), 10_000, 'the dispatcher follows the tenant');
    const writer = await member('scribe', 0, ['said-1', 'unsaid']);
    const acks: string[] = [];
    for (let n = 0; n < 5; n++) acks.push(String((await writer.request({ type: 'publish', room: 'said-1', data: { n, text: `line ${n}` } })).msgId));
    expect((await writer.request({ type: 'publish', room: 'unsaid', data: 'not for the endpoint' })).type).toBe('ack');
    await receiver.until((e) => e.filter((x) => x.type === 'message.published').length >= 5, 10_000, 'five messages');
    await new Promise((r) => setTimeout(r, 500));
    const published = receiver.events().filter((e) => e.type === 'message.published');
    expect(published.map((e) => e.data)).toEqual(acks.map((msgId, n) => ({ room: 'said-1', user: 'scribe', msgId, ts: expect.any(Number), data: { n, text: `line ${n}` } })));
    expect(new Webhook(endpoint.secret).verify(receiver.requests[0]!.body, receiver.requests[0]!.headers as Record<string, string>)).toMatchObject({ type: 'message.published' });
    await server.deleteWebhook(endpoint.id);
    await until(async () => /^parley_webhook_message_tenants\S* 0$/m.test(await (await fetch(`${cluster.webhooks!.url}/metrics`)).text()), 10_000, 'the dispatcher stops following the tenant');
    await receiver.stop();
  });

  it('webhooks - moderation.action: the backend hears every moderator\'s and its own action, in order, with the audit entry', async () => {
    const receiver = new Receiver();
    await receiver.start();
    const endpoint = await server.createWebhook({ url: receiver.url, events: ['moderation.action'], rooms: 'judged-*' });
    const moderator = await connectUser(cluster.gateways[1]!, await mintUserToken(cluster, 'judge', { grants: { 'judged-*': ['subscribe', 'publish', 'moderate'] } }), ['judged-1']);
    open.push(moderator);
    const banned = await server.ban('judged-1', 'heckler', { seconds: 600, reason: 'heckling' });
    expect(await moderator.request({ type: 'mute', room: 'judged-1', user: 'whisperer', reason: 'too loud' })).toMatchObject({ type: 'ack' });
    expect(await moderator.request({ type: 'settings', room: 'judged-1', slowModeSeconds: 10 })).toMatchObject({ type: 'settings' });
    await server.ban('elsewhere', 'heckler');
    await receiver.until((e) => e.filter((x) => x.type === 'moderation.action').length >= 3, 10_000, 'three moderation actions');
    await new Promise((r) => setTimeout(r, 300));
    const actions = receiver.events().filter((e) => e.type === 'moderation.action');
    expect(actions.map((e) => [e.data.room, e.data.user ?? null, e.data.moderation?.action, e.data.moderation?.actor, e.data.moderation?.reason ?? null])).toEqual([
      ['judged-1', 'heckler', 'ban', '$server', 'heckling'],
      ['judged-1', 'whisperer', 'mute', 'judge', 'too loud'],
      ['judged-1', null, 'settings', 'judge', null],
    ]);
    expect(actions[0]!.data.moderation).toMatchObject({ id: banned.id, details: { until: expect.any(Number) } });
    expect(actions[2]!.data.moderation?.details).toEqual({ slowModeSeconds: 10 });
    expect(new Webhook(endpoint.secret).verify(receiver.requests[0]!.body, receiver.requests[0]!.headers as Record<string, string>)).toMatchObject({ type: 'moderation.action' });
    await server.deleteWebhook(endpoint.id);
    await receiver.stop();
  });

  it('webhooks - an operator manages a tenant\'s endpoints with parley-admin: create, deliver, state, list, disable, enable, delete', async () => {
    const receiver = new Receiver();
    await receiver.start();
    const ns = cluster.demoNamespace;
    const created = await parleyAdmin(['--json', 'webhooks', 'create', ns, '--endpoint', receiver.url, '--events', 'member.joined', '--rooms', 'ops-room']);
    expect(created.stderr).toBe('');
    const endpoint = JSON.parse(created.stdout) as { id: string; secret: string; ns: string };
    expect(endpoint).toMatchObject({ ns, id: expect.stringMatching(/^we_/), secret: expect.stringMatching(/^whsec_/) });
    // The tenant sees it too (its own API), without the secret.
    expect((await server.listWebhooks()).map((e) => e.id)).toContain(endpoint.id);

    await member('opal', 0, ['ops-room']);
    await receiver.until((e) => summary(e, 'ops-room').length === 1, 10_000, 'the event');
    expect(new Webhook(endpoint.secret).verify(receiver.requests[0]!.body, receiver.requests[0]!.headers as Record<string, string>)).toMatchObject({ type: 'member.joined', data: { user: 'opal' } });

    await until(async () => /last success:\s+\d{4}-/.test((await parleyAdmin(['webhooks', 'get', ns, endpoint.id])).stdout), 10_000, 'the state shows the delivery');
    const listed = await parleyAdmin(['webhooks', 'list', ns]);
    const row = listed.stdout.split('\n').find((line) => line.startsWith(endpoint.id));
    expect(row?.split(/\s+/)).toEqual([endpoint.id, receiver.url, 'member.joined', 'ops-room', 'yes', expect.any(String)]);
    expect(listed.stdout).not.toContain('whsec_');

    // Off, a join goes unheard; back on (same secret), the next one is delivered, and only it.
    expect((await parleyAdmin(['webhooks', 'update', ns, endpoint.id, '--no-enabled'])).stdout).toContain('(disabled)');
    await member('quiet', 1, ['ops-room']);
    expect((await server.updateWebhook(endpoint.id, { enabled: true })).enabled).toBe(true);
    await member('loud', 0, ['ops-room']);
    await receiver.until((e) => summary(e, 'ops-room').includes('member.joined loud'), 10_000, 'the join after re-enabling');
    expect(summary(receiver.events(), 'ops-room')).toEqual(['member.joined opal', 'member.joined loud']);
    expect(new Webhook(endpoint.secret).verify(receiver.requests.at(-1)!.body, receiver.requests.at(-1)!.headers as Record<string, string>)).toMatchObject({ data: { user: 'loud' } });

    expect((await parleyAdmin(['webhooks', 'delete', ns, endpoint.id])).stdout).toContain(`Removed webhook endpoint ${endpoint.id}`);
    expect((await server.listWebhooks()).map((e) => e.id)).not.toContain(endpoint.id);
    const missing = await parleyAdmin(['webhooks', 'get', ns, endpoint.id], 1);
    expect(missing.stderr).toMatch(/^error: not_found: /);
    const unknownTenant = await parleyAdmin(['webhooks', 'list', 'no-such-tenant'], 1);
    expect(unknownTenant.stderr).toContain('tenant no-such-tenant does not exist');
    await receiver.stop();
  });
});

/** Runs the operator CLI against the cluster's auth; fails unless it exits with `expectedCode`. */
async function parleyAdmin(args: string[], expectedCode = 0): Promise<{ stdout: string; stderr: string }> {
  const result = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      [join(REPO_ROOT, 'services/auth/bin/parley-admin.ts'), ...args],
      { env: { PATH: process.env.PATH ?? '', PARLEY_AUTH_URL: cluster.auth.url, PARLEY_ADMIN_TOKEN: cluster.adminToken }, timeout: 20_000 },
      (error, stdout, stderr) => resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }),
    );
  });
  expect(result.code, `parley-admin ${args.join(' ')}: ${result.stderr}`).toBe(expectedCode);
  return result;
}
