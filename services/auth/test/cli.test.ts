import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT_USAGE, runCli } from '../src/cli/parley-admin.ts';
import { loadSigningKeys } from '../src/keys/signing-keys.ts';
import { startRedis, type ServerProcess } from '@parley/testkit';
import { runAdminCli, startAuthProcess, type AuthProcess } from './process-support.ts';
import { ADMIN_TOKEN } from './support.ts';

describe('parley-admin CLI (against a real auth process)', () => {
  let dir: string;
  let auth: AuthProcess;
  let redis: ServerProcess;
  let env: Record<string, string>;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'parley-auth-cli-'));
    redis = await startRedis();
    auth = await startAuthProcess({ PARLEY_DATA_DIR: dir, PARLEY_ADMIN_TOKEN: ADMIN_TOKEN, PARLEY_AUTH_DEMO_TENANT: 'false', PARLEY_MODERATION_REDIS_URL: redis.url });
    env = { PARLEY_AUTH_URL: auth.url, PARLEY_ADMIN_TOKEN: ADMIN_TOKEN };
  });
  afterAll(async () => {
    await auth?.stop('SIGKILL');
    await redis?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('cli - an operator creates, lists, updates a tenant and manages its keys', async () => {
    const created = await runAdminCli(['tenants', 'create', 'acme', '--max-connections', '500', '--allowed-origins', 'https://app.acme.com', '--history'], env);
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
    expect(created.stdout).toContain('Created tenant acme.');
    expect(created.stdout).toMatch(/max connections:\s+500/);
    expect(created.stdout).toMatch(/allowed origins:\s+https:\/\/app\.acme\.com/);

    const list = await runAdminCli(['tenants', 'list'], env);
    expect(list.code).toBe(0);
    expect(list.stdout.split('\n')[0]).toMatch(/^NS\s+MAX CONN\s+FRAME BYTES/);
    expect(list.stdout).toMatch(/^acme\s+500\s+16384\s+20\s+40\s+100\s+3600s\s+on\s+https:\/\/app\.acme\.com/m);

    const updated = await runAdminCli(['tenants', 'update', 'acme', '--max-rooms', '9', '--no-history', '--compression', '--json'], env);
    expect(updated.code).toBe(0);
    const tenant = JSON.parse(updated.stdout) as { settings: { maxRooms: number; maxConnections: number; compression: boolean; history: { enabled: boolean } } };
    expect(tenant.settings).toMatchObject({ maxRooms: 9, maxConnections: 500, compression: true, history: { enabled: false } });
    expect((await runAdminCli(['tenants', 'get', 'acme'], env)).stdout).toMatch(/compression:\s+on/);

    const key = await runAdminCli(['keys', 'create', 'acme'], env);
    expect(key.code).toBe(0);
    const apiKey = /pk_acme_[A-Za-z0-9_-]{43}/.exec(key.stdout)?.[0];
    expect(apiKey).toBeDefined();
    const keyId = /key_[A-Za-z0-9_-]{12}/.exec(key.stdout)?.[0];
    const mint = () =>
      fetch(`${auth.url}/v1/tokens`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' }, body: '{"user":"alice","grants":{}}' });
    expect((await mint()).status).toBe(200);

    const keys = await runAdminCli(['keys', 'list', 'acme'], env);
    expect(keys.code).toBe(0);
    expect(keys.stdout).toContain(keyId);
    expect(keys.stdout).toContain(`${apiKey!.slice(0, 12)}…`);
    expect(keys.stdout).not.toContain(apiKey!.slice(0, 20));

    const revoked = await runAdminCli(['keys', 'revoke', 'acme', keyId!], env);
    expect(revoked.code).toBe(0);
    expect(revoked.stdout).toContain(`Revoked API key ${keyId}`);
    expect((await mint()).status).toBe(401);

    expect((await runAdminCli(['tenants', 'delete', 'acme'], env)).code).toBe(0);
    const gone = await runAdminCli(['tenants', 'get', 'acme'], env);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toBe('error: not_found: tenant acme does not exist (HTTP 404)\n');
  });

  it('cli - API errors exit 1, usage errors exit 2, and the admin token is never printed', async () => {
    const forged = await runAdminCli(['tenants', 'list'], { ...env, PARLEY_ADMIN_TOKEN: 'forged-token-forged-token' });
    expect(forged.code).toBe(1);
    expect(forged.stderr).toMatch(/^error: unauthorized: /);
    expect(forged.stderr + forged.stdout).not.toContain('forged-token');

    const invalid = await runAdminCli(['tenants', 'create', 'bad', '--max-frame-bytes', '999999'], env);
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toMatch(/^error: bad_frame: invalid settings: settings\.maxFrameBytes/);

    const unreachable = await runAdminCli(['tenants', 'list'], { ...env, PARLEY_AUTH_URL: 'http://127.0.0.1:1' });
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toMatch(/^error: unreachable: cannot reach the auth service/);

    expect((await runAdminCli(['tenants', 'fly'], env)).code).toBe(2);
    // The other usage errors in process: same code path, no process start each.
    for (const args of [[], ['tenants'], ['tenants', 'get'], ['tenants', 'create', 'x', '--max-rooms', 'many'], ['tenants', 'list', '--bogus'], ['tenants', 'update', 'x']]) {
      const stderr: string[] = [];
      expect(await runCli(args, env, { stdout: () => {}, stderr: (t) => stderr.push(t) }), args.join(' ')).toBe(EXIT_USAGE);
      expect(stderr.join('')).toMatch(/parley-admin|Usage/);
    }
    expect(await runCli(['tenants', 'list'], { PARLEY_AUTH_URL: auth.url }, { stdout: () => {}, stderr: () => {} })).toBe(EXIT_USAGE);
    const help = await runAdminCli(['--help'], {});
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: parley-admin');
    for (const result of [forged, invalid, help]) expect(result.stdout + result.stderr).not.toContain(ADMIN_TOKEN);
  });

  it("cli - an operator moderates a tenant's rooms (kept in the moderation Redis) and reads the audit log", async () => {
    expect((await runAdminCli(['tenants', 'create', 'modco', '--no-show-moderators'], env)).stdout).toMatch(/moderators shown:\s+no/);
    const ok = async (args: string[]) => {
      const result = await runAdminCli(args, env);
      expect(result.stderr, args.join(' ')).toBe('');
      expect(result.code, args.join(' ')).toBe(0);
      return result.stdout;
    };
    expect(await ok(['rooms', 'ban', 'modco', 'lobby', 'mallory', '--seconds', '3600', '--reason', 'spam'])).toMatch(/^Banned mallory in room lobby of tenant modco for 3600s \(audit entry \S+\)\.$/m);
    expect(await ok(['rooms', 'mute', 'modco', 'lobby', 'trol'])).toContain('Muted trol in room lobby of tenant modco until lifted');
    expect(await ok(['rooms', 'invite', 'modco', 'lobby', 'bob'])).toContain('Invited bob');
    expect(await ok(['rooms', 'role', 'modco', 'lobby', 'carol', 'moderator'])).toContain('carol is moderator of room lobby');
    expect(await ok(['rooms', 'settings', 'modco', 'lobby', '--invite-only', 'true', '--slow-mode', '10'])).toMatch(/invite only:\s+yes[\s\S]*slow mode:\s+10s/);
    expect(await ok(['rooms', 'kick', 'modco', 'lobby', 'dave', '--reason', 'off-topic'])).toContain('Kicked dave from room lobby of tenant modco (audit entry');
    expect(await ok(['rooms', 'delete-message', 'modco', 'lobby', '--msg-id', 'm-1'])).toContain('Deleted message m-1');

    const state = await ok(['rooms', 'moderation', 'modco', 'lobby']);
    expect(state).toMatch(/bans:\s+mallory \(until \d{4}-/);
    expect(state).toMatch(/mutes:\s+trol \(until lifted\)/);
    expect(state).toMatch(/invites:\s+bob$/m);
    expect(state).toMatch(/roles:\s+carol \(moderator\)/);
    const json = JSON.parse(await ok(['rooms', 'moderation', 'modco', 'lobby', '--json'])) as { settings: { inviteOnly: boolean }; bans: Array<{ user: string }> };
    expect(json).toMatchObject({ settings: { inviteOnly: true, readOnly: false, slowModeSeconds: 10 }, bans: [{ user: 'mallory' }] });

    await ok(['rooms', 'unban', 'modco', 'lobby', 'mallory']);
    await ok(['rooms', 'unmute', 'modco', 'lobby', 'trol']);
    await ok(['rooms', 'uninvite', 'modco', 'lobby', 'bob']);
    expect(await ok(['rooms', 'role', 'modco', 'lobby', 'carol', 'none'])).toContain('carol has no role in room lobby');
    expect(await ok(['rooms', 'moderation', 'modco', 'lobby'])).toMatch(/bans:\s+none\nmutes:\s+none\ninvites:\s+none\nroles:\s+none/);

    const audit = await ok(['audit', 'modco']);
    expect(audit.split('\n')[0]).toMatch(/^ID\s+TIME\s+ROOM\s+ACTION\s+ACTOR\s+TARGET\s+REASON\s+DETAILS$/);
    expect(audit.trim().split('\n').slice(1).map((line) => line.split(/\s+/)[3])).toEqual(['ban', 'mute', 'invite', 'role', 'settings', 'kick', 'delete', 'unban', 'unmute', 'uninvite', 'role']);
    expect(audit).toMatch(/lobby\s+ban\s+\$server\s+mallory\s+spam/);
    const page = JSON.parse(await ok(['audit', 'modco', '--limit', '2', '--json'])) as { entries: Array<{ id: string; action: string }>; next: string };
    expect(page.entries.map((e) => e.action)).toEqual(['ban', 'mute']);
    expect(await ok(['audit', 'modco', '--limit', '2'])).toContain(`More: audit modco --after ${page.next}`);
    const rest = JSON.parse(await ok(['audit', 'modco', '--after', page.next, '--json'])) as { entries: Array<{ action: string }>; next?: string };
    expect(rest.entries).toHaveLength(9);
    expect(rest.next).toBeUndefined();

    const missing = await runAdminCli(['rooms', 'ban', 'ghost', 'lobby', 'x'], env);
    expect(missing).toMatchObject({ code: 1, stderr: 'error: not_found: tenant ghost does not exist (HTTP 404)\n' });
    for (const args of [
      ['rooms', 'role', 'modco', 'lobby', 'bob', 'admin'],
      ['rooms', 'delete-message', 'modco', 'lobby'],
      ['rooms', 'delete-message', 'modco', 'lobby', '--seq', '1', '--msg-id', 'x'],
      ['rooms', 'settings', 'modco', 'lobby'],
      ['rooms', 'settings', 'modco', 'lobby', '--read-only', 'maybe'],
      ['rooms', 'ban', 'modco', 'lobby'],
      ['rooms', 'ban', 'modco', 'lobby', 'x', '--seconds', 'soon'],
      ['rooms', 'fly', 'modco'],
      ['audit'],
    ]) {
      const stderr: string[] = [];
      expect(await runCli(args, env, { stdout: () => {}, stderr: (t) => stderr.push(t) }), args.join(' ')).toBe(EXIT_USAGE);
      expect(stderr.join('')).toContain('parley-admin');
    }
  });

  it('cli - signing-key generate writes a key file the service can load', async () => {
    const keysDir = join(dir, 'keys');
    await mkdir(keysDir);
    const result = await runAdminCli(['signing-key', 'generate', 'k-2026', '--alg', 'EdDSA', '--dir', keysDir], {});
    expect(result.code).toBe(0);
    expect(await readdir(keysDir)).toEqual(['k-2026.private.jwk.json']);
    const keys = await loadSigningKeys({ dir: keysDir });
    expect(keys.active).toMatchObject({ kid: 'k-2026', alg: 'EdDSA' });
    expect((await runAdminCli(['signing-key', 'generate', 'k-2026', '--dir', keysDir], {})).code).toBe(1);
  });
});
