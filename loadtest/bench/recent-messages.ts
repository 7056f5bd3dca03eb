// `./parley node loadtest/bench/recent-messages.ts`: the per-message cost of the history feed's
// recent-messages ring (services/gateway/src/domain/recent-messages.ts), which every history
// message pays once per gateway (not per member): 5,000,000 frames of ~200 bytes over 100 rooms.
import { RecentMessages } from '../../services/gateway/src/domain/recent-messages.ts';

const frames = Array.from({ length: 64 }, (_, i) => new Uint8Array(180 + i));
const messages = 5_000_000;
for (let round = 1; round <= 3; round++) {
  const rooms = Array.from({ length: 100 }, () => new RecentMessages(0));
  const started = process.hrtime.bigint();
  for (let seq = 1; seq <= messages; seq++) rooms[seq % 100]!.push(seq, frames[seq & 63]!, seq);
  const nsPerMessage = Number(process.hrtime.bigint() - started) / messages;
  console.log(`[recent-messages] round ${round}/3: ${nsPerMessage.toFixed(1)} ns per message kept`);
}
