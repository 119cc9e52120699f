// Whether each WAN and path is usable, from every source paird has: the
// WAN interface's carrier (always), probed's wan.state and path.state (when
// probed runs), and tunneld's path state (until probed has judged a path).
// Pure: the daemon feeds facts in, gets up/down changes out.

/** probed's verdicts (HealthState in daemons/probed). */
export type ProbeVerdict = 'unknown' | 'up' | 'degraded' | 'down';

export interface HealthItem {
  name: string;
  kind: 'wan' | 'path';
  /** For a WAN: its interface, whose carrier counts. */
  interface?: string;
}

/** One item's standing and why, for status and the sync message. */
export interface ItemHealth {
  name: string;
  kind: 'wan' | 'path';
  up: boolean;
  /** Which source decided: `carrier`, `probed`, `tunneld` or `none` (no report yet: up). */
  source: 'carrier' | 'probed' | 'tunneld' | 'none';
  detail: string;
}

export interface HealthInputsOptions {
  items: HealthItem[];
  /** Called when an item's up/down changes (not at construction: items start up). */
  onChange?: (name: string, up: boolean, why: string) => void;
}

/**
 * Combines the sources. A WAN is down while its interface has no carrier,
 * or while probed calls it down. A path is down while probed calls it down;
 * before probed has a verdict (or while probed is not running) tunneld's
 * state counts: only `up` (a fresh handshake) is up. Degraded is up: it
 * still carries traffic, and handing the VIPs over would not help.
 */
export class HealthInputs {
  private readonly items = new Map<string, HealthItem>();
  private readonly carrier = new Map<string, boolean>();
  private readonly probed = new Map<string, ProbeVerdict>();
  private readonly tunneld = new Map<string, string>();
  private readonly last = new Map<string, boolean>();
  private readonly onChange: ((name: string, up: boolean, why: string) => void) | undefined;

  constructor(opts: HealthInputsOptions) {
    for (const it of opts.items) this.items.set(it.name, it);
    for (const it of opts.items) this.last.set(it.name, true);
    this.onChange = opts.onChange;
  }

  /** Carrier of an interface; null when the interface does not exist. */
  setCarrier(ifname: string, up: boolean | null): void {
    this.carrier.set(ifname, up === true);
    this.update();
  }

  /** probed's verdict on a WAN or path; null forgets it (probed went away). */
  setProbed(name: string, verdict: ProbeVerdict | null): void {
    if (verdict === null) this.probed.delete(name);
    else this.probed.set(name, verdict);
    this.update();
  }

  /** Forgets every probed verdict (probed stopped answering). */
  clearProbed(): void {
    this.probed.clear();
    this.update();
  }

  /** tunneld's state of a path (up, down, connecting). */
  setTunnel(path: string, state: string): void {
    this.tunneld.set(path, state);
    this.update();
  }

  /** Every item now. */
  all(): ItemHealth[] {
    return [...this.items.values()].map((it) => this.judge(it));
  }

  get(name: string): ItemHealth | undefined {
    const it = this.items.get(name);
    return it ? this.judge(it) : undefined;
  }

  private judge(it: HealthItem): ItemHealth {
    const verdict = this.probed.get(it.name);
    if (it.kind === 'wan') {
      const c = it.interface === undefined ? undefined : this.carrier.get(it.interface);
      if (c === false) return { name: it.name, kind: it.kind, up: false, source: 'carrier', detail: `no carrier on ${it.interface}` };
      if (verdict === 'down') return { name: it.name, kind: it.kind, up: false, source: 'probed', detail: 'probed: down' };
      if (verdict !== undefined && verdict !== 'unknown') return { name: it.name, kind: it.kind, up: true, source: 'probed', detail: `probed: ${verdict}` };
      if (c === true) return { name: it.name, kind: it.kind, up: true, source: 'carrier', detail: `carrier on ${it.interface}` };
      return { name: it.name, kind: it.kind, up: true, source: 'none', detail: 'no report yet' };
    }
    if (verdict !== undefined && verdict !== 'unknown') {
      return { name: it.name, kind: it.kind, up: verdict !== 'down', source: 'probed', detail: `probed: ${verdict}` };
    }
    const t = this.tunneld.get(it.name);
    if (t !== undefined) return { name: it.name, kind: it.kind, up: t === 'up', source: 'tunneld', detail: `tunneld: ${t}` };
    return { name: it.name, kind: it.kind, up: true, source: 'none', detail: 'no report yet' };
  }

  private update(): void {
    for (const it of this.items.values()) {
      const j = this.judge(it);
      if (this.last.get(it.name) === j.up) continue;
      this.last.set(it.name, j.up);
      this.onChange?.(it.name, j.up, j.detail);
    }
  }
}
