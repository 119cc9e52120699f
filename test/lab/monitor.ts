// What the kernel of a lab node announced while something ran: `ip
// monitor route` or `ip monitor address`, bracketed by marker changes in
// a scratch place (a route in table 4242, an address on lo), so the caller
// knows the monitor was listening before and printed everything after —
// no wait on wall time either way.
import fs from 'node:fs';
import type { Lab } from './lab.js';
import { patience, waitFor } from './wait.js';

export type MonitorKind = 'route' | 'address';

/** The marker of each kind: the commands that add and remove it, and the text that shows it in a monitor line. */
const markers: Record<MonitorKind, { commands: string; shows: string }> = {
  route: { commands: 'ip route add blackhole 192.0.2.0/24 table 4242 && ip route del blackhole 192.0.2.0/24 table 4242', shows: '192.0.2.0/24' },
  address: { commands: 'ip address add 192.0.2.1/32 dev lo && ip address del 192.0.2.1/32 dev lo', shows: '192.0.2.1/32' },
};

let monitors = 0;

/**
 * The lines `ip -o monitor <kind>` printed in node while fn ran, the
 * markers left out. A marker each try until one shows (the monitor listens
 * from then on), then fn, then one more marker that must show: every event
 * of fn has been printed by then.
 */
export async function kernelEvents(lab: Lab, node: string, kind: MonitorKind, fn: () => Promise<void>): Promise<string[]> {
  const m = markers[kind];
  const mon = lab.spawn(node, `${kind}-monitor-${++monitors}`, ['ip', '-o', 'monitor', kind]);
  const lines = (): string[] => (fs.existsSync(mon.log) ? fs.readFileSync(mon.log, 'utf8').split('\n') : []);
  const seen = (): number => lines().filter((l) => l.includes(m.shows)).length;
  const mark = (): Promise<string> => lab.mustExec(node, ['sh', '-c', m.commands]);
  try {
    await waitFor(`${kind} monitor in ${node} listening`, async () => {
      if (seen() > 0) return true;
      await mark();
      return false;
    }, patience(1000));
    const before = seen();
    await fn();
    await mark();
    await waitFor(`${kind} monitor in ${node} caught up`, () => seen() >= before + 2, patience(1000));
    return lines().filter((l) => l.trim() !== '' && !l.includes(m.shows));
  } finally {
    await lab.kill(node, mon.name, 'SIGTERM');
  }
}
