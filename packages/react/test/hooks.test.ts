// @vitest-environment jsdom
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { act, cleanup, fireEvent, render, waitFor, within } from '@testing-library/react';
import { createElement } from 'react';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createRequire } from 'node:module';
import { createClient, type ParleyClient, type WebSocketConstructor } from '@parley/client';
import { freePort } from '@parley/testkit';
import { ParleyProvider, useConnectionState, usePresence, useRoom } from '../src/index.ts';

/**
 * The hooks in jsdom against the real single-process server (`npm start`'s entry point, in its
 * own process; the demo tenant keeps history).
 */
const MAIN = join(dirname(fileURLToPath(import.meta.url)), '../../../apps/embedded/src/main.ts');
let server: ChildProcess;
let base: string;
let dataDir: string;
const clients: ParleyClient[] = [];
/** Loaded with Node's resolution: the jsdom environment would pick `ws`'s browser stub. */
const NodeWs = createRequire(fileURLToPath(import.meta.url))('ws') as WebSocketConstructor;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'parley-react-'));
  const port = await freePort();
  base = `127.0.0.1:${port}`;
  server = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', MAIN], {
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', PARLEY_DATA_DIR: dataDir, PARLEY_DRAIN_MS: '0', PARLEY_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  server.stdout?.on('data', (d: Buffer) => (output += d));
  server.stderr?.on('data', (d: Buffer) => (output += d));
  const deadline = Date.now() + 30_000;
  while ((await fetch(`http://${base}/readyz`).catch(() => undefined))?.status !== 200) {
    if (Date.now() > deadline || server.exitCode !== null) throw new Error(`the server did not become ready:\n${output}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}, 60_000);
afterEach(cleanup);
afterAll(async () => {
  for (const c of clients) c.close();
  if (server && server.exitCode === null) {
    const exited = new Promise((r) => server.once('exit', r));
    server.kill('SIGTERM');
    await exited;
  }
  rmSync(dataDir, { recursive: true, force: true });
});

function clientFor(user: string): ParleyClient {
  const client = createClient({
    url: `ws://${base}/v1/ws`,
    // jsdom swaps the global Event class, which Node's WebSocket (and jsdom's own, built on it)
    // then rejects: inject the `ws` package, through the SDK's option for such runtimes.
    WebSocket: NodeWs,
    getToken: async () => {
      const res = await fetch(`http://${base}/demo/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user }) });
      return ((await res.json()) as { token: string }).token;
    },
  });
  clients.push(client);
  return client;
}

function Chat(props: { room: string }) {
  const { messages, joined, publish } = useRoom(props.room);
  const members = usePresence(props.room);
  const { state } = useConnectionState();
  return createElement(
    'div',
    null,
    createElement('p', { 'data-testid': 'state' }, state),
    createElement('p', { 'data-testid': 'joined' }, String(joined)),
    createElement('ul', { 'data-testid': 'members' }, ...members.map((m) => createElement('li', { key: m.user }, m.user))),
    createElement('ul', { 'data-testid': 'messages' }, ...messages.map((m) => createElement('li', { key: m.msgId }, `${m.from.user}: ${String(m.data)}`))),
    createElement('button', { onClick: () => void publish('hi') }, 'send'),
  );
}

// The root type check has no DOM library: read elements through the little this test needs.
type Node = { textContent: string | null; querySelectorAll(selector: string): Iterable<Node> };
const text = (el: unknown) => (el as Node).textContent;
const texts = (el: unknown) => [...(el as Node).querySelectorAll('li')].map((li) => li.textContent);

describe('@parley/react', () => {
  it('hooks - useRoom loads history and live messages, usePresence lists members, useConnectionState follows the client', async () => {
    const bob = clientFor('bob');
    const bobRoom = bob.room('react-room');
    await bobRoom.join();
    await bobRoom.publish('earlier');

    const ann = clientFor('ann');
    const view = render(createElement(ParleyProvider, { client: ann }, createElement(Chat, { room: 'react-room' })));
    const ui = within(view.container);
    await waitFor(() => expect(text(ui.getByTestId('state'))).toBe('connected'));
    await waitFor(() => expect(text(ui.getByTestId('joined'))).toBe('true'));
    await waitFor(() => expect(texts(ui.getByTestId('messages'))).toEqual(['bob: earlier']));
    await waitFor(() => expect(texts(ui.getByTestId('members'))).toEqual(['ann', 'bob']));

    fireEvent.click(ui.getByText('send'));
    await act(() => bobRoom.publish('live'));
    await waitFor(() => expect(texts(ui.getByTestId('messages'))).toEqual(['bob: earlier', 'ann: hi', 'bob: live']));

    view.unmount(); // the last user of the room leaves it
    await waitFor(() => expect([...bobRoom.members.keys()]).toEqual(['bob']));

    const again = render(createElement(ParleyProvider, { client: ann }, createElement(Chat, { room: 'react-room' })));
    await waitFor(() => expect(text(within(again.container).getByTestId('joined'))).toBe('true'));
    act(() => ann.close());
    await waitFor(() => expect(text(within(again.container).getByTestId('state'))).toBe('disconnected'));
  });
});
