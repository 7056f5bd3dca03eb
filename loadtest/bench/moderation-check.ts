// `./parley node loadtest/bench/moderation-check.ts`: the per-publish cost of moderation
// (services/gateway/src/domain/room-moderation.ts), which every publish and binary frame pays on
// the sender's gateway: a room with nothing to enforce (the common case), a room with a muted
// user (someone else) and slow mode, and a moderator's publish in a read-only room.
import { createLogger, createMetricsRegistry } from '@parley/observability';
import { createMemoryPresenceStore } from '@parley/presence-store';
import { createMemoryBus } from '@parley/bus';
import { createMemoryModerationStore, createModerator } from '@parley/moderation';
import { compileGrants } from '@parley/protocol';
import { createGatewayMetrics } from '../../services/gateway/src/metrics.ts';
import { createRoomModeration, type ModeratedMember } from '../../services/gateway/src/domain/room-moderation.ts';
import type { VerifiedToken } from '../../services/gateway/src/domain/token-verifier.ts';

const store = createMemoryModerationStore();
const bus = createMemoryBus();
const moderation = createRoomModeration({
  store,
  moderator: createModerator({ store, bus }),
  presence: createMemoryPresenceStore(),
  metrics: createGatewayMetrics(createMetricsRegistry('bench', { defaultMetrics: false })),
  logger: createLogger('bench', { level: 'silent' }),
  hasHistory: false,
  isLocalMember: () => false,
});
const member = (user: string, grants: Record<string, Array<'subscribe' | 'publish' | 'moderate'>>): ModeratedMember => ({
  ns: 'bench',
  user,
  rooms: new Set(),
  token: { claims: { sub: user, ns: 'bench', jti: user, iat: 0, exp: 0 }, grants: compileGrants(grants), limits: undefined, origins: [], historyEnabled: false, historyRetention: undefined, showModerators: true } satisfies VerifiedToken,
});
const plain = member('plain', { '*': ['subscribe', 'publish'] });
const moderator = member('mod', { '*': ['subscribe', 'publish'], 'room-*': ['moderate'] });

await store.apply('bench', 'room-muted', { kind: 'mute', user: 'someone-else', until: null });
await store.apply('bench', 'room-readonly', { kind: 'settings', settings: { readOnly: true } });
for (const room of ['room-open', 'room-muted', 'room-readonly']) await moderation.admitJoin(plain, room);

const cases: Array<[string, ModeratedMember, string]> = [
  ['open room (fast path)', plain, 'room-open'],
  ['room with a muted user', plain, 'room-muted'],
  ["moderator's publish in a read-only room", moderator, 'room-readonly'],
];
const checks = 5_000_000;
for (const [name, who, room] of cases) {
  for (let round = 1; round <= 3; round++) {
    const started = process.hrtime.bigint();
    for (let i = 0; i < checks; i++) if (moderation.checkPublish(who, room, 'message')) throw new Error('a check needed the store');
    const ns = Number(process.hrtime.bigint() - started) / checks;
    console.log(`[moderation-check] ${name}, round ${round}/3: ${ns.toFixed(1)} ns per publish`);
  }
}
