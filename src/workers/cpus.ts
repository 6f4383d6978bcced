/** How many CPUs this process may really use: the scheduler's view, capped by a cgroup quota. */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

function readNumbers(path: string): string[] | undefined {
  try {
    return readFileSync(path, 'utf8').trim().split(/\s+/);
  } catch {
    return undefined;
  }
}

/**
 * CPUs of the container's quota (cgroup v2 `cpu.max`, v1 `cpu.cfs_quota_us`), whole ones, or
 * undefined when unlimited or unreadable. Fargate and Docker cap CPU this way while the machine
 * still shows all its cores.
 */
export function cgroupCpus(root = '/sys/fs/cgroup'): number | undefined {
  const v2 = readNumbers(`${root}/cpu.max`);
  const [quota, period] = v2 ?? [
    readNumbers(`${root}/cpu/cpu.cfs_quota_us`)?.[0],
    readNumbers(`${root}/cpu/cpu.cfs_period_us`)?.[0],
  ];
  const q = Number(quota);
  const p = Number(period);
  if (!Number.isFinite(q) || !Number.isFinite(p) || q <= 0 || p <= 0) return undefined;
  return Math.max(1, Math.floor(q / p));
}

export function availableCpus(): number {
  return Math.max(1, Math.min(availableParallelism(), cgroupCpus() ?? Infinity));
}
