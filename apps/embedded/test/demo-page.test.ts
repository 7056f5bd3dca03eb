import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '@parley/observability';
import { startEmbedded, type Embedded } from '../src/embedded.ts';
import { DEMO_BUNDLE, demoBundle } from '../../../packages/client/scripts/bundle.ts';

const CHROMIUM = process.env.PARLEY_CHROMIUM ?? '/usr/bin/chromium';
let parley: Embedded;
let context: BrowserContext;
let dataDir: string;
const dirs: string[] = [];
const start = (port: number) => startEmbedded({ host: '127.0.0.1', port, dataDir, logger: createLogger('parley', { level: 'silent' }), drainMs: 0 });

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'parley-demo-'));
  const profile = mkdtempSync(join(tmpdir(), 'parley-chromium-'));
  dirs.push(dataDir, profile);
  parley = await start(0);
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}, 60_000);

afterAll(async () => {
  await context?.close();
  await parley?.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function openTab(name: string, room: string, port = parley.gateway.port): Promise<Page> {
  const page = await context.newPage();
  await page.goto(`http://127.0.0.1:${port}/`);
  await page.fill('#name', name);
  await page.fill('#room', room);
  await page.click('#connect');
  await page.waitForSelector('#text:not([disabled])');
  return page;
}

/**
 * A fixed address in front of Parley, as a load balancer would be: the server's own port stays
 * unusable for a while after it closed live connections (TIME_WAIT), so the restarted server
 * listens on a new one and the pages keep their URL.
 */
async function startFrontDoor(): Promise<{ port: number; close(): Promise<void> }> {
  const open = new Set<Socket>();
  const server = createServer((client) => {
    open.add(client);
    client.on('close', () => open.delete(client));
    const upstream = connect(parley.gateway.port, '127.0.0.1');
    client.pipe(upstream).pipe(client);
    const end = () => (client.destroy(), upstream.destroy());
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, close: () => new Promise((resolve) => (server.close(() => resolve()), open.forEach((s) => s.destroy()))) };
}

const logLines = (page: Page) => page.locator('#log li').allTextContents();
const say = async (page: Page, text: string) => {
  await page.fill('#text', text);
  await page.press('#text', 'Enter');
};

describe('demo page', () => {
  it('demo page - the page loads the bundle of the current @parley/client sources', async () => {
    expect(readFileSync(DEMO_BUNDLE, 'utf8'), 'run `npm run bundle:demo -w packages/client`').toBe(await demoBundle());
  });

  it('demo page - two browser tabs join a room, see each other online and typing, chat, and a late joiner gets the history', async () => {
    const [ann, ben] = [await openTab('ann', 'lobby'), await openTab('ben', 'lobby')];
    await ann.waitForFunction(`[...document.querySelectorAll('#members li')].some((li) => li.textContent === 'ben')`);
    await ann.fill('#text', 'hel');
    await ben.waitForFunction(`document.querySelector('#typing').textContent === 'ann typing…'`);
    await say(ann, 'hello from ann');
    await ben.waitForFunction(`document.querySelector('#log').textContent.includes('ann: hello from ann')`);
    expect(await ben.locator('#members li').allTextContents()).toEqual(['ann', 'ben']);
    expect(await ann.locator('#status').textContent()).toBe('connected');
    await ben.screenshot({ path: join(tmpdir(), 'parley-demo-page.png') });
    const cat = await openTab('cat', 'lobby');
    await cat.waitForFunction(`document.querySelector('#log').textContent.includes('ann: hello from ann')`);
    await cat.close();
    await ann.close();
    await ben.waitForFunction(`document.querySelector('#log').textContent.includes('ann left')`);
    expect(await ben.locator('#members li').allTextContents()).toEqual(['ben']);
    await ben.close();
  });

  it('demo page - the server restarts; a message the other tab sent meanwhile appears once after the reconnect', async () => {
    const door = await startFrontDoor();
    const [ann, ben] = [await openTab('ann', 'restart', door.port), await openTab('ben', 'restart', door.port)];
    await ann.waitForFunction(`[...document.querySelectorAll('#members li')].some((li) => li.textContent === 'ben')`);
    await say(ann, 'before');
    await ben.waitForFunction(`document.querySelector('#log').textContent.includes('ann: before')`);
    await parley.close();
    await ben.waitForFunction(`document.querySelector('#status').dataset.state === 'reconnecting'`);
    await say(ben, 'sent while the server was down'); // waits in the SDK's queue
    parley = await start(0);
    for (const page of [ann, ben]) {
      await page.waitForFunction(`document.querySelector('#log').textContent.includes('ben: sent while the server was down')`, undefined, { timeout: 30_000 });
      await page.waitForFunction(`document.querySelector('#status').dataset.state === 'connected'`);
    }
    await say(ann, 'after');
    await ben.waitForFunction(`document.querySelector('#log').textContent.includes('ann: after')`);
    for (const page of [ann, ben]) {
      const lines = await logLines(page);
      expect(lines.filter((l) => l === 'ben: sent while the server was down')).toHaveLength(1);
      expect(lines.filter((l) => l === 'ann: before')).toHaveLength(1);
    }
    await Promise.all([ann.close(), ben.close()]);
    await door.close();
  }, 60_000);
});
