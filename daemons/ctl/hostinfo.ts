// Host facts for status and diag, through systeminformation, each bounded
// in time: a slow sensor read must not hold up the screen.
import fs from 'node:fs';
import nodeOs from 'node:os';
import si from 'systeminformation';
import { errorMessage } from '../lib/errors.js';

export interface HostFacts {
  hostname: string | null;
  os: string | null;
  kernel: string | null;
  arch: string | null;
  uptimeSec: number | null;
  cpu: string | null;
  cores: number | null;
  /** Percent, 0–100. */
  load: number | null;
  memTotalBytes: number | null;
  memAvailableBytes: number | null;
  /** °C; null when the box has no readable sensor (VMs). */
  cpuTempC: number | null;
  /** Facts that could not be read in time, and why. */
  missing: Record<string, string>;
}

function bounded<T>(what: string, p: Promise<T>, ms: number, missing: Record<string, string>): Promise<T | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => { missing[what] = `no answer within ${ms} ms`; resolve(undefined); }, ms);
    timer.unref();
    p.then((v) => { clearTimeout(timer); resolve(v); }, (err: unknown) => { clearTimeout(timer); missing[what] = errorMessage(err); resolve(undefined); });
  });
}

/**
 * PRETTY_NAME from os-release (os-release(5): /etc first, then /usr/lib),
 * null when neither is readable or names nothing. systeminformation's answer
 * runs commands and is the first to come too late on a loaded box; this is
 * one small file read.
 */
export function osRelease(files = ['/etc/os-release', '/usr/lib/os-release']): string | null {
  for (const f of files) {
    let text: string;
    try {
      text = fs.readFileSync(f, 'utf8');
    } catch {
      continue;
    }
    const m = /^PRETTY_NAME=(.*)$/m.exec(text.slice(0, 64 * 1024));
    // The value may be quoted; control characters never reach the screen.
    const v = m?.[1]?.trim().replace(/^(["'])(.*)\1$/, '$2').replace(/[\x00-\x1f\x7f]/g, '').trim().slice(0, 120);
    if (v) return v;
  }
  return null;
}

/** The box's facts; never throws, never takes much longer than timeoutMs. */
export async function hostFacts(timeoutMs = 1500): Promise<HostFacts> {
  const missing: Record<string, string> = {};
  const [os, mem, load, temp, cpu] = await Promise.all([
    bounded('os', si.osInfo(), timeoutMs, missing),
    bounded('memory', si.mem(), timeoutMs, missing),
    bounded('load', si.currentLoad(), timeoutMs, missing),
    bounded('temperature', si.cpuTemperature(), timeoutMs, missing),
    bounded('cpu', si.cpu(), timeoutMs, missing),
  ]);
  const time = si.time();
  // What Node knows without a process or a file read stands in for a
  // systeminformation answer that came too late (a loaded box): the
  // engineer still sees which box, which kernel, how much memory.
  const cpus = nodeOs.cpus();
  return {
    hostname: os?.hostname ?? nodeOs.hostname(),
    os: os ? `${os.distro} ${os.release}`.trim() : osRelease(),
    kernel: os?.kernel ?? nodeOs.release(),
    arch: os?.arch ?? nodeOs.arch(),
    uptimeSec: typeof time.uptime === 'number' ? time.uptime : Number(time.uptime) || null,
    cpu: cpu ? `${cpu.manufacturer} ${cpu.brand}`.trim() : (cpus[0]?.model.trim() || null),
    cores: cpu?.cores ?? (cpus.length || null),
    load: typeof load?.currentLoad === 'number' ? Math.round(load.currentLoad * 10) / 10 : null,
    memTotalBytes: mem?.total ?? nodeOs.totalmem(),
    memAvailableBytes: mem?.available ?? nodeOs.freemem(),
    cpuTempC: typeof temp?.main === 'number' ? temp.main : null,
    missing,
  };
}

/** Interfaces with addresses and counters, for diag. */
export async function hostInterfaces(timeoutMs = 3000): Promise<unknown> {
  const missing: Record<string, string> = {};
  const [ifaces, stats] = await Promise.all([
    bounded('interfaces', si.networkInterfaces(), timeoutMs, missing),
    bounded('stats', si.networkStats('*'), timeoutMs, missing),
  ]);
  return { interfaces: ifaces ?? null, stats: stats ?? null, missing };
}
