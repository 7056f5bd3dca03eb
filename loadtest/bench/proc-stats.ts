import { readFileSync } from 'node:fs';

/** Linux's USER_HZ: /proc/<pid>/stat counts CPU time in 1/100 s on every mainstream kernel. */
const TICKS_PER_SECOND = 100;

export interface ProcSample {
  pid: number;
  cpuSeconds: number;
  rssBytes: number;
}

/** CPU time (user + system) and resident memory of a process, from /proc; zeros when it is gone. */
export function sampleProc(pid: number): ProcSample {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cpuSeconds = (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rssKb = Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1] ?? 0);
    return { pid, cpuSeconds, rssBytes: rssKb * 1024 };
  } catch {
    return { pid, cpuSeconds: 0, rssBytes: 0 };
  }
}

/** CPU use of groups of processes over a window, in % of one core. */
export function cpuMeter(groups: Record<string, number[]>) {
  const start = performance.now();
  const before = Object.fromEntries(Object.entries(groups).map(([name, pids]) => [name, pids.map(sampleProc)]));
  return () => {
    const seconds = (performance.now() - start) / 1000;
    const usage: Record<string, number> = {};
    for (const [name, pids] of Object.entries(groups)) {
      const cpu = pids.reduce((sum, pid, i) => sum + sampleProc(pid).cpuSeconds - (before[name]![i]?.cpuSeconds ?? 0), 0);
      usage[name] = Math.round((cpu / seconds) * 100);
    }
    return usage;
  };
}
