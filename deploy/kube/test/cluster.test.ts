import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type ParleyClient, type RoomMessage } from '@parley/client';
import { CHART_DIR, REPO_ROOT, ensureKube, ensureTool } from '../../test/support/tools.ts';

const run = promisify(execFile);
const NAMESPACE = 'parley';
const VALUES = join(REPO_ROOT, 'deploy/kube/values-local.yaml');
const TENANT = 'kube';
const ROOM_OPTIONS = { '*': ['subscribe', 'publish', 'presence', 'history'] };

interface Pod {
  metadata: { name: string; labels: Record<string, string>; deletionTimestamp?: string };
  spec: { containers: Array<{ name: string; livenessProbe?: unknown; readinessProbe?: unknown; startupProbe?: unknown }> };
  status: {
    phase: string;
    podIP?: string;
    conditions?: Array<{ type: string; status: string }>;
    containerStatuses?: Array<{ name: string; containerID?: string; restartCount: number; ready: boolean }>;
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A promise that must settle within `ms` (a join the server never answers fails here, not at the test's timeout). */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function waitUntil(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 30_000, everyMs = 250): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

/**
 * Parley in a real Kubernetes cluster on this machine (scripts/kube.sh: API server, etcd,
 * controller manager, scheduler, kubelet with containerd, kube-proxy, CoreDNS, a CNI bridge), its
 * image built from the Dockerfile, NATS (3 nodes, JetStream) and Redis from Debian's packages,
 * installed with `helm install --wait`. Clients reach the gateways through their Service's
 * cluster address, which the host routes to the node, as a client behind a load balancer would.
 */
describe('kubernetes', () => {
  let cluster: ChildProcess | undefined;
  let clusterExited: Promise<number | null> | undefined;
  let clusterLog = '';
  let kubeBin = '';
  let helmBin = '';
  const env: Record<string, string> = {};
  const clients: ParleyClient[] = [];
  let gatewayUrl = '';
  let authUrl = '';
  let apiKey = '';

  const kubectl = async (...args: string[]) =>
    (await run(join(kubeBin, 'kubectl'), ['--kubeconfig', env.KUBECONFIG!, '-n', NAMESPACE, ...args], { maxBuffer: 64 * 1024 * 1024 })).stdout;
  const helm = async (...args: string[]) =>
    (await run(helmBin, ['--kubeconfig', env.KUBECONFIG!, '-n', NAMESPACE, ...args], { maxBuffer: 16 * 1024 * 1024 })).stdout;
  const pods = async (component: string) =>
    ((JSON.parse(await kubectl('get', 'pods', '-l', `app.kubernetes.io/component=${component}`, '-o', 'json')) as { items: Pod[] }).items).filter(
      (p) => !p.metadata.deletionTimestamp,
    );
  const isReady = (p: Pod) => p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
  const readyGateways = async () => (await pods('gateway')).filter(isReady);

  /**
   * Why history does not answer: the gateways' last log lines, and what each NATS server says of
   * JetStream (its meta group, the streams and their leaders). For a warm-up that timed out.
   */
  const historyDiagnostics = async (): Promise<string> => {
    const tried = (promise: Promise<string>) => promise.catch((error: unknown) => `(failed: ${(error as Error).message})`);
    const parts = [await tried(kubectl('get', 'pods', '-o', 'wide'))];
    parts.push(await tried(kubectl('logs', '-l', 'app.kubernetes.io/component=gateway', '--tail=40', '--prefix')));
    const nats = (JSON.parse(await kubectl('get', 'pods', '-l', 'app=nats', '-o', 'json')) as { items: Pod[] }).items;
    for (const pod of nats) {
      const jsz = await tried(
        fetch(`http://${pod.status.podIP}:8222/jsz?accounts=true&streams=true&consumers=true&raft=true`, { signal: AbortSignal.timeout(5000) }).then(async (r) => {
          const body = (await r.json()) as {
            meta_cluster?: unknown;
            account_details?: Array<{ name: string; stream_detail?: Array<{ name: string; cluster?: unknown; state?: { messages: number; consumer_count: number } }> }>;
          };
          const streams = (body.account_details ?? []).flatMap((a) => (a.stream_detail ?? []).map((d) => ({ account: a.name, name: d.name, cluster: d.cluster, state: d.state && { messages: d.state.messages, consumers: d.state.consumer_count } })));
          return JSON.stringify({ meta: body.meta_cluster, streams });
        }),
      );
      parts.push(`${pod.metadata.name} jsz: ${jsz}`);
      parts.push(await tried(kubectl('logs', pod.metadata.name, '--tail=30')));
    }
    return parts.join('\n');
  };

  /** Open connections of one gateway pod, from its metrics endpoint (the host routes pod addresses to the node). */
  const connectionsOn = async (pod: Pod) => {
    const text = await (await fetch(`http://${pod.status.podIP}:9090/metrics`)).text();
    return text
      .split('\n')
      .filter((line) => /^parley_gateway_connections[{ ]/.test(line))
      .reduce((sum, line) => sum + Number(line.split(' ').pop()), 0);
  };

  const mint = async (user: string) => {
    const response = await fetch(`${authUrl}/v1/tokens`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ user, grants: ROOM_OPTIONS }),
    });
    if (response.status !== 200) throw new Error(`minting a token: ${response.status} ${await response.text()}`);
    return ((await response.json()) as { token: string }).token;
  };

  /** A client connected through the gateway Service that landed on `pod` (others are closed and retried). */
  const clientOn = async (pod: Pod, user: string): Promise<ParleyClient> => {
    for (let attempt = 0; attempt < 30; attempt++) {
      const before = await connectionsOn(pod);
      const client = createClient({ url: gatewayUrl, getToken: () => mint(user), reconnect: { baseMs: 100, capMs: 1000 } });
      await waitUntil(`${user} connected`, () => client.connected, 20_000, 50);
      if ((await connectionsOn(pod)) > before) {
        clients.push(client);
        return client;
      }
      client.close();
      await sleep(200);
    }
    throw new Error(`no connection of ${user} landed on ${pod.metadata.name} in 30 attempts`);
  };

  /** Messages a room delivers to one client, and its connection's state changes and errors. */
  const watch = (client: ParleyClient, roomName: string) => {
    const room = client.room(roomName);
    const received: RoomMessage[] = [];
    const states: Array<{ state: string; reason?: string }> = [];
    const errors: unknown[] = [];
    const rejoins: boolean[] = [];
    room.on('message', (m) => received.push(m));
    room.on('joined', ({ resumed }) => rejoins.push(resumed));
    room.on('error', (e) => errors.push(e));
    room.on('gap', (g) => errors.push({ gap: g }));
    client.on('state', ({ state, reason }) => states.push({ state, reason }));
    client.on('error', (e) => errors.push(e));
    return { room, received, states, errors, rejoins };
  };

  /** Publishes a numbered message every `everyMs` until stopped; resolves with each acknowledged seq by payload. */
  const publishUntilStopped = (client: ParleyClient, roomName: string, everyMs: number) => {
    const acked = new Map<string, number>();
    const failures: unknown[] = [];
    const inFlight: Array<Promise<void>> = [];
    let stopped = false;
    const loop = (async () => {
      for (let i = 0; !stopped; i++) {
        const data = `m${i}`;
        inFlight.push(
          client
            .room(roomName)
            .publish(data)
            .then((ack) => void acked.set(data, ack.seq!), (e: unknown) => void failures.push(e)),
        );
        await sleep(everyMs);
      }
    })();
    return {
      acked,
      failures,
      stop: async () => {
        stopped = true;
        await loop;
        await Promise.all(inFlight);
      },
    };
  };

  /** Every acknowledged message arrived once, in seq order. */
  const expectExactlyOnce = (who: string, received: RoomMessage[], acked: Map<string, number>) => {
    const seqs = received.map((m) => m.seq!);
    expect(new Set(seqs).size, `${who}: duplicates`).toBe(seqs.length);
    expect(seqs, `${who}: order`).toEqual([...seqs].sort((a, b) => a - b));
    const byData = new Map(received.map((m) => [m.data as string, m.seq!]));
    for (const [data, seq] of acked) expect(byData.get(data), `${who}: ${data} (seq ${seq})`).toBe(seq);
  };

  beforeAll(async () => {
    helmBin = ensureTool('helm');
    kubeBin = ensureKube();
    cluster = spawn('bash', [join(REPO_ROOT, 'scripts/kube.sh'), 'up'], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    clusterExited = new Promise((resolve) => cluster!.once('exit', (code) => resolve(code)));
    cluster.stdout!.on('data', (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n')) {
        const match = /^export (\w+)=(.*)$/.exec(line);
        if (match) env[match[1]!] = match[2]!;
      }
    });
    cluster.stderr!.on('data', (chunk: Buffer) => (clusterLog = (clusterLog + chunk.toString()).slice(-20_000)));
    await waitUntil('the cluster', () => {
      if (cluster!.exitCode !== null) throw new Error(`scripts/kube.sh up exited (${cluster!.exitCode}):\n${clusterLog}`);
      return env.PARLEY_KUBE_CONTAINERD !== undefined;
    }, 20 * 60_000, 500);

    await helm('install', 'parley', CHART_DIR, '-f', VALUES, '--wait', '--timeout', '10m');
    const service = async (name: string) => JSON.parse(await kubectl('get', 'service', name, '-o', 'json')) as { spec: { clusterIP: string } };
    gatewayUrl = `ws://${(await service('parley-gateway')).spec.clusterIP}:8080/v1/ws`;
    authUrl = `http://${(await service('parley-auth')).spec.clusterIP}:8081`;

    // A tenant with history, created with the admin token from the chart's Secret.
    const secrets = JSON.parse(await kubectl('get', 'secrets', '-o', 'json')) as { items: Array<{ data?: Record<string, string> }> };
    const adminToken = Buffer.from(secrets.items.find((s) => s.data?.['admin-token'])!.data!['admin-token']!, 'base64').toString();
    const admin = { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' };
    const created = await fetch(`${authUrl}/v1/admin/tenants`, {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({ ns: TENANT, settings: { history: { enabled: true }, messagesPerSecond: 200, burst: 400 } }),
    });
    expect(created.status, await created.clone().text()).toBe(201);
    const key = await fetch(`${authUrl}/v1/admin/tenants/${TENANT}/keys`, { method: 'POST', headers: admin });
    apiKey = ((await key.json()) as { key: string }).key;
    // Right after the install, JetStream may still be electing the leaders of the tenant's first
    // replicated stream: history joins and publishes are answered history_unavailable (temporary)
    // meanwhile. The client retries a join by itself and an application retries a publish; so does
    // this warm-up (up to 3 minutes), so that the tests start once history works.
    const warmStarted = Date.now();
    const warm = createClient({ url: gatewayUrl, getToken: () => mint('warm-up'), reconnect: { baseMs: 100, capMs: 1000 } });
    await waitUntil('the warm-up client connected', () => warm.connected, 60_000, 50);
    const warmRoom = warm.room('warm-up');
    await within(warmRoom.join(), 180_000, 'the warm-up history join').catch(async (error: Error) => {
      throw new Error(`${error.message}\n${await historyDiagnostics()}`);
    });
    for (const deadline = Date.now() + 180_000; ; await sleep(1000)) {
      const acked = await warmRoom.publish('warm-up').then(
        () => true,
        (error: { temporary?: boolean }) => {
          if (error.temporary !== true) throw error;
          if (Date.now() > deadline) return historyDiagnostics().then((diagnostics) => Promise.reject(new Error(`the warm-up publish: ${String(error)}\n${diagnostics}`)));
          return false;
        },
      );
      if (acked) break;
    }
    warm.close();
    console.log(`[kube] history answered ${((Date.now() - warmStarted) / 1000).toFixed(1)} s after the install`);
  }, 30 * 60_000);

  afterAll(async () => {
    for (const c of clients) c.close();
    if (cluster && cluster.exitCode === null) {
      cluster.kill('SIGTERM');
      await Promise.race([clusterExited, sleep(90_000)]);
    }
  }, 120_000);

  it('kubernetes - helm install --wait succeeded on a real node, and helm test passes', async () => {
    const nodes = JSON.parse(await kubectl('get', 'nodes', '-o', 'json')) as { items: Array<{ status: { nodeInfo: { kubeletVersion: string; containerRuntimeVersion: string } } }> };
    expect(nodes.items).toHaveLength(1);
    expect(nodes.items[0]!.status.nodeInfo.kubeletVersion).toBe('v1.34.4');
    expect(nodes.items[0]!.status.nodeInfo.containerRuntimeVersion).toMatch(/^containerd:\/\//);
    expect(await helm('status', 'parley')).toMatch(/STATUS: deployed/);
    const test = await helm('test', 'parley', '--timeout', '3m');
    expect(test).toMatch(/Phase:\s+Succeeded/);
  }, 240_000);

  it('kubernetes - the pods run as the chart says: uid 10001, no capabilities, read-only root, probes passing, no restarts', async () => {
    const { stdout } = await run('ctr', ['--address', env.PARLEY_KUBE_CONTAINERD!, '--namespace', 'k8s.io', 'tasks', 'ls']);
    const pidOf = new Map(stdout.split('\n').slice(1).filter(Boolean).map((line) => [line.split(/\s+/)[0]!, Number(line.split(/\s+/)[1])]));
    for (const component of ['gateway', 'auth', 'presence', 'webhooks']) {
      const list = await pods(component);
      expect(list.length, component).toBeGreaterThanOrEqual(2);
      for (const pod of list) {
        const name = pod.metadata.name;
        expect(isReady(pod), `${name} ready`).toBe(true);
        const container = pod.spec.containers[0]!;
        expect(container.readinessProbe && container.livenessProbe && container.startupProbe, `${name} probes`).toBeTruthy();
        const status = pod.status.containerStatuses![0]!;
        expect(status.restartCount, `${name} restarts`).toBe(0);
        const pid = pidOf.get(status.containerID!.replace('containerd://', ''));
        expect(pid, `${name}: its container's process`).toBeGreaterThan(0);
        const procStatus = readFileSync(`/proc/${pid}/status`, 'utf8');
        expect(procStatus, name).toMatch(/^Uid:\s+10001\s+10001\s+10001\s+10001$/m);
        expect(procStatus, name).toMatch(/^CapEff:\s+0+$/m);
        expect(procStatus, name).toMatch(/^NoNewPrivs:\s+1$/m);
        const root = readFileSync(`/proc/${pid}/mountinfo`, 'utf8').split('\n').find((line) => line.split(' ')[4] === '/');
        expect(root?.split(' ')[5]?.split(','), `${name}: root mount`).toContain('ro');
      }
    }
    // The monitoring objects the chart installs by default.
    expect(await kubectl('get', 'servicemonitors,prometheusrules', '-o', 'name')).toMatch(/servicemonitor.*\n[\s\S]*prometheusrule/);
    expect((await kubectl('get', 'configmaps', '-l', 'grafana_dashboard=1', '-o', 'name')).trim().split('\n').length).toBeGreaterThanOrEqual(1);
  }, 60_000);

  it('kubernetes - two clients through the gateway Service, on different gateway pods, chat and see presence and history', async () => {
    const [podA, podB] = await readyGateways();
    expect(podB, 'two ready gateway pods').toBeDefined();
    const alice = watch(await clientOn(podA!, 'alice'), 'lobby');
    const bob = watch(await clientOn(podB!, 'bob'), 'lobby');
    await within(alice.room.join(), 30_000, 'alice joins');
    await within(bob.room.join(), 30_000, 'bob joins');
    await waitUntil('presence of both in both', () => ['alice', 'bob'].every((u) => alice.room.members.has(u) && bob.room.members.has(u)), 15_000);
    const ack = await alice.room.publish('hello from pod A');
    expect(ack.seq).toBeGreaterThan(0);
    await bob.room.publish('hello from pod B');
    await waitUntil('both messages on both', () => alice.received.length === 2 && bob.received.length === 2, 15_000);
    expect(bob.received.map((m) => [m.from.user, m.data])).toEqual([
      ['alice', 'hello from pod A'],
      ['bob', 'hello from pod B'],
    ]);
    const page = await bob.room.history({ limit: 10 });
    expect(page.messages.map((m) => m.data)).toEqual(['hello from pod A', 'hello from pod B']);
    expect([...alice.errors, ...bob.errors]).toEqual([]);
  }, 120_000);

  /**
   * A publisher and a subscriber on gateway B and a subscriber on gateway A in `room`; B is lost
   * (`lose`) while a message is published every 40 ms. Every client comes back (through the
   * Service) and resumes, every acknowledged message reaches every client once and in order, and
   * no client sees an error. Resolves with the lost pod.
   */
  const loseGatewayUnderTraffic = async (room: string, lose: (pod: Pod) => Promise<unknown>): Promise<Pod> => {
    const [podA, podB] = await readyGateways();
    const publisher = await clientOn(podB!, `pub-${room}`);
    const onA = watch(await clientOn(podA!, `sub-${room}-a`), room);
    const onB = watch(await clientOn(podB!, `sub-${room}-b`), room);
    const pub = watch(publisher, room);
    await within(Promise.all([onA.room.join(), onB.room.join(), pub.room.join()]), 30_000, 'joins');
    const traffic = publishUntilStopped(publisher, room, 40);
    await sleep(1500);
    await lose(podB!);
    await waitUntil('the publisher back', () => publisher.connected && pub.rejoins.length > 1, 60_000);
    await sleep(2000);
    await traffic.stop();
    expect(traffic.failures).toEqual([]);
    expect(traffic.acked.size).toBeGreaterThan(50);
    await waitUntil('every acknowledged message at every client', () => [onA, onB, pub].every((w) => w.received.length >= traffic.acked.size), 30_000);
    expectExactlyOnce('on the surviving pod', onA.received, traffic.acked);
    expectExactlyOnce('moved from the lost pod', onB.received, traffic.acked);
    expectExactlyOnce('the publisher, moved', pub.received, traffic.acked);
    for (const moved of [onB, pub]) {
      expect(moved.states.some((s) => s.state === 'reconnecting'), 'reconnected').toBe(true);
      expect(moved.rejoins.at(-1), 'resumed').toBe(true);
    }
    expect([...onA.errors, ...onB.errors, ...pub.errors]).toEqual([]);
    return podB!;
  };

  it('kubernetes - kubectl delete pod of a gateway under traffic: its clients reconnect through the Service and resume; nothing acknowledged is lost or repeated', async () => {
    await loseGatewayUnderTraffic('pod-loss', (pod) => kubectl('delete', 'pod', pod.metadata.name, '--wait=true', '--timeout=90s'));
    await waitUntil('two ready gateways again', async () => (await readyGateways()).length === 2, 90_000, 1000);
  }, 240_000);

  it('kubernetes - a gateway container killed (SIGKILL) under traffic: its clients come back through the Service and resume; nothing acknowledged is lost or repeated; the kubelet restarts it', async () => {
    const killed = await loseGatewayUnderTraffic('crash', (pod) =>
      run('ctr', ['--address', env.PARLEY_KUBE_CONTAINERD!, '--namespace', 'k8s.io', 'tasks', 'kill', '--signal', 'SIGKILL', pod.status.containerStatuses![0]!.containerID!.replace('containerd://', '')]),
    );
    await waitUntil('the killed gateway restarted and ready', async () => {
      const pod = (await pods('gateway')).find((p) => p.metadata.name === killed.metadata.name);
      return pod !== undefined && isReady(pod) && pod.status.containerStatuses![0]!.restartCount === 1;
    }, 120_000, 1000);
  }, 240_000);

  it('kubernetes - helm upgrade rolls the gateways: each drains (reconnect, then resume), nothing is lost, no client sees an error; the PDB holds', async () => {
    const [podA, podB] = await readyGateways();
    const room = 'rolling';
    const publisher = await clientOn(podA!, 'pub-roll');
    const subscribers = [watch(await clientOn(podA!, 'sub-roll-a'), room), watch(await clientOn(podB!, 'sub-roll-b'), room)];
    const pub = watch(publisher, room);
    await within(Promise.all([...subscribers, pub].map((w) => w.room.join())), 30_000, 'joins');
    const traffic = publishUntilStopped(publisher, room, 50);
    let minReady = Number.POSITIVE_INFINITY;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        minReady = Math.min(minReady, (await readyGateways()).length);
        await sleep(250);
      }
    })();
    await helm('upgrade', 'parley', CHART_DIR, '-f', VALUES, '--reuse-values', '--set', 'gateway.maxPayloadBytes=60000', '--wait', '--timeout', '5m');
    // The last old pod starts draining as the rollout completes: traffic goes on until both are gone.
    await kubectl('wait', '--for=delete', `pod/${podA!.metadata.name}`, `pod/${podB!.metadata.name}`, '--timeout=120s');
    await sleep(1000);
    sampling = false;
    await sampler;
    await traffic.stop();
    expect(traffic.failures).toEqual([]);
    const names = (await readyGateways()).map((p) => p.metadata.name);
    expect(names).not.toContain(podA!.metadata.name);
    expect(names).not.toContain(podB!.metadata.name);
    expect(minReady, 'ready gateways during the rollout').toBeGreaterThanOrEqual(1);
    await waitUntil('every acknowledged message at every subscriber', () => [...subscribers, pub].every((w) => w.received.length >= traffic.acked.size), 30_000);
    for (const [i, w] of [...subscribers, pub].entries()) {
      expectExactlyOnce(`client ${i}`, w.received, traffic.acked);
      expect(w.states.filter((s) => s.state === 'reconnecting').map((s) => s.reason), `client ${i}: drained`).toContain('shutdown');
      expect(w.rejoins.at(-1)).toBe(true);
      expect(w.errors, `client ${i}`).toEqual([]);
    }

    // The PodDisruptionBudget: one gateway may be evicted, not the second while the first is replaced.
    const eviction = (pod: string) => {
      const file = join(tmpdir(), `eviction-${pod}.json`);
      writeFileSync(file, JSON.stringify({ apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: pod, namespace: NAMESPACE } }));
      return kubectl('create', '--raw', `/api/v1/namespaces/${NAMESPACE}/pods/${pod}/eviction`, '-f', file);
    };
    const disruptionsAllowed = async () =>
      (JSON.parse(await kubectl('get', 'pdb', 'parley-gateway', '-o', 'json')) as { status: { disruptionsAllowed: number } }).status.disruptionsAllowed;
    await waitUntil('the PDB to allow one disruption', async () => (await disruptionsAllowed()) === 1, 30_000, 500);
    await eviction(names[0]!);
    await expect(eviction(names[1]!)).rejects.toThrow(/disruption budget/);
    await waitUntil('two ready gateways again', async () => (await readyGateways()).length === 2, 120_000, 1000);
  }, 600_000);

  it('kubernetes - with NATS gone the pods turn unready without restarting, and ready again when it returns', async () => {
    const restarts = async () => new Map((await pods('gateway')).map((p) => [p.metadata.name, p.status.containerStatuses![0]!.restartCount]));
    const before = await restarts();
    await kubectl('scale', 'statefulset', 'nats', '--replicas=0');
    await waitUntil('every gateway unready', async () => (await readyGateways()).length === 0, 90_000, 1000);
    // Longer than the liveness probe's failure budget (3 × 10 s): a crash loop would show by now.
    await sleep(40_000);
    const during = await pods('gateway');
    for (const pod of during) expect(pod.status.phase, pod.metadata.name).toBe('Running');
    expect(await restarts()).toEqual(before);
    await kubectl('scale', 'statefulset', 'nats', '--replicas=3');
    await kubectl('rollout', 'status', 'statefulset/nats', '--timeout=180s');
    await waitUntil('the gateways ready again', async () => (await readyGateways()).length === 2, 120_000, 1000);
    expect(await restarts()).toEqual(before);
  }, 400_000);

  it('kubernetes - stopping the cluster leaves no process, interface, route or cgroup behind', async () => {
    for (const c of clients.splice(0)) c.close();
    cluster!.kill('SIGTERM');
    expect(await Promise.race([clusterExited, sleep(90_000).then(() => 'timeout')])).not.toBe('timeout');
    const { stdout: links } = await run('ip', ['-o', 'link']);
    expect(links).not.toMatch(/parley-kube0/);
    const { stdout: routes } = await run('ip', ['route']);
    expect(routes).not.toMatch(/10\.96\.0\.0\/16|10\.244\.0\.0\/24/);
    const cgroups = readdirSync('/sys/fs/cgroup').filter((c) => existsSync(join('/sys/fs/cgroup', c, 'parley-kube')));
    expect(cgroups).toEqual([]);
    const kubeProcesses = readdirSync('/proc')
      .filter((p) => /^\d+$/.test(p))
      .map((p) => {
        try {
          return readFileSync(`/proc/${p}/cmdline`, 'utf8');
        } catch {
          return '';
        }
      })
      .filter((cmd) => cmd.includes(kubeBin) || cmd.includes('containerd-shim') || cmd.includes(env.PARLEY_KUBE_CONTAINERD!));
    expect(kubeProcesses).toEqual([]);
  }, 120_000);
});
