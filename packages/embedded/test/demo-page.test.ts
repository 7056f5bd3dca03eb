import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '@parley/observability';
import { startEmbedded, type Embedded } from '../src/embedded.ts';

const CHROMIUM = process.env.PARLEY_CHROMIUM ?? '/usr/bin/chromium';
let parley: Embedded;
let context: BrowserContext;
const dirs: string[] = [];

beforeAll(async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'parley-demo-'));
  const profile = mkdtempSync(join(tmpdir(), 'parley-chromium-'));
  dirs.push(dataDir, profile);
  parley = await startEmbedded({ host: '127.0.0.1', port: 0, dataDir, logger: createLogger('parley', { level: 'silent' }), drainMs: 0 });
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

describe('demo page', () => {
  it('demo page - two browser tabs join a room, see each other online and chat', async () => {
    const url = `http://127.0.0.1:${parley.gateway.port}/`;
    const [ann, ben] = [await context.newPage(), await context.newPage()];
    for (const [page, name] of [[ann, 'ann'], [ben, 'ben']] as const) {
      await page.goto(url);
      await page.fill('#name', name);
      await page.fill('#room', 'lobby');
      await page.click('#connect');
      await page.waitForSelector('#text:not([disabled])');
    }
    await ann.waitForFunction(`[...document.querySelectorAll('#members li')].some((li) => li.textContent === 'ben')`);
    await ann.fill('#text', 'hello from ann');
    await ann.press('#text', 'Enter');
    await ben.waitForFunction(`document.querySelector('#log').textContent.includes('ann: hello from ann')`);
    expect(await ben.locator('#members li').allTextContents()).toEqual(['ann', 'ben']);
    await ben.screenshot({ path: join(tmpdir(), 'parley-demo-page.png') });
    await ann.close();
    await ben.waitForFunction(`document.querySelector('#log').textContent.includes('ann left')`);
    expect(await ben.locator('#members li').allTextContents()).toEqual(['ben']);
  });
});
