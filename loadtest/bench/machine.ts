import { execFile } from 'node:child_process';
import { availableParallelism, cpus, loadavg, release, totalmem } from 'node:os';
import { promisify } from 'node:util';

const run = promisify(execFile);

async function version(command: string, args: string[]) {
  try {
    const { stdout } = await run(command, args);
    return stdout.trim().split('\n')[0]!;
  } catch {
    return 'not found';
  }
}

export interface MachineInfo {
  cores: number;
  cpuModel: string;
  memoryGiB: number;
  kernel: string;
  node: string;
  natsServer: string;
  redisServer: string;
  loadAverage: number[];
}

/** What the figures were measured on. */
export async function machineInfo(): Promise<MachineInfo> {
  return {
    cores: availableParallelism(),
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: release(),
    node: process.version,
    natsServer: await version('nats-server', ['--version']),
    redisServer: await version('redis-server', ['--version']),
    loadAverage: loadavg().map((l) => Math.round(l * 100) / 100),
  };
}
