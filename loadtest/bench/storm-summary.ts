import type { MachineInfo } from './machine.ts';
import type { StormResult } from './storm-run.ts';

const ms = (n: number | undefined) => (n === undefined ? 'not all' : `${(n / 1000).toFixed(2)} s`);

/** One line per run and system: the storm's times, losses, latency and cost. */
export function formatStorm(results: StormResult[], machine: MachineInfo): string {
  const lines = [`Reconnect storm, ${machine.cpuModel} × ${machine.cores}, Node ${machine.node}`];
  for (const r of results) {
    const nodes = Object.entries(r.resources).filter(([name]) => name.startsWith('node-'));
    const brokers = Object.entries(r.resources).filter(([name]) => !name.startsWith('node-') && !name.startsWith('generator'));
    const cost = (entries: [string, { cpuSeconds: number; peakRssMiB: number; rssBeforeMiB: number }][]) =>
      entries.map(([name, c]) => `${name} ${c.cpuSeconds.toFixed(2)} s CPU, RSS ${c.rssBeforeMiB} → peak ${c.peakRssMiB} MiB`).join('; ');
    lines.push(
      '',
      `${r.system}: ${r.connections.storm.toLocaleString('en-US')} clients on the killed node, ${r.config.rooms} rooms, ${r.connections.survivors} survivors, ${r.connections.publishers} publishers at ${r.published.perSecond}/s`,
      `  from the SIGKILL: all disconnected ${ms(r.fromKillMs.disconnected)}, reconnected ${ms(r.fromKillMs.reconnected)}, rejoined ${ms(r.fromKillMs.rejoined)}, caught up ${ms(r.fromKillMs.caughtUp)} (${r.resumed} resumed, ${r.notResumed} not)`,
      `  per client, disconnect → caught up: p50 ${r.perClientResumeMs?.p50 ?? '-'} ms, p99 ${r.perClientResumeMs?.p99 ?? '-'} ms, max ${r.perClientResumeMs?.max ?? '-'} ms; ${r.attempts} connection attempts, ${r.failedAttempts} failed${r.failedAttempts ? ` (${Object.entries(r.failedAttemptReasons).map(([why, n]) => `${why}: ${n}`).join(', ')})` : ''}`,
      `  messages: storm clients lost ${r.storm.lost}, duplicates ${r.storm.duplicates}, out of order ${r.storm.outOfOrder}, unexpected ${r.storm.unexpected}; survivors lost ${r.survivors.lost}, duplicates ${r.survivors.duplicates}; gaps ${r.gaps}, errors ${r.errors} (after joined: ${r.errorsAfterJoined}; rooms dropped after joined and joined again: ${r.droppedRooms}), unexpected closes ${r.unexpectedCloses}; acked but seen by no survivor ${r.published.ackedButSeenByNoSurvivor}`,
      `  survivors' delivery p50 / p99: before ${r.latency.before?.p50Ms ?? '-'} / ${r.latency.before?.p99Ms ?? '-'} ms, during the storm (${(r.latency.duringWindowMs / 1000).toFixed(1)} s) ${r.latency.during?.p50Ms ?? '-'} / ${r.latency.during?.p99Ms ?? '-'} ms (max ${r.latency.during?.maxMs ?? '-'} ms)`,
      `  publish → ack p50 / p99: before ${r.latency.ackBefore?.p50Ms ?? '-'} / ${r.latency.ackBefore?.p99Ms ?? '-'} ms, during ${r.latency.ackDuring?.p50Ms ?? '-'} / ${r.latency.ackDuring?.p99Ms ?? '-'} ms`,
      `  cost over the storm: ${cost(nodes)}`,
      `                       ${cost(brokers)}`,
      `  broker requests over the storm: ${Object.entries(r.brokerRequests).map(([name, n]) => `${name} ${n.toLocaleString('en-US')}`).join(', ')}`,
    );
    for (const example of [...r.errorExamples, ...r.storm.examples]) lines.push(`  ! ${example}`);
  }
  return lines.join('\n');
}
