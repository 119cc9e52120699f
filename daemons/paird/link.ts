// Link facts paird needs and the kernel library does not give: carrier
// (IFF_LOWER_UP) and MAC of the pair interface and the WANs, read over
// rtnetlink, re-read on every link event and on a slow timer in case an
// event was lost.
import { createRtNetlink, type RtNetlinkSocket, type rt } from 'netlink';
import { systemClock, type Clock, type TimerHandle } from '../lib/clock/index.js';
import { errorMessage } from '../lib/errors.js';
import { silentLogger, type Logger } from '../lib/log/index.js';
import { formatMac } from './garp.js';

export interface LinkFacts {
  name: string;
  index: number;
  /** Administratively up (IFF_UP). */
  up: boolean;
  /** Carrier present (IFF_LOWER_UP): the cable, or the veth's other end, is there. */
  carrier: boolean;
  /** aa:bb:cc:dd:ee:ff, or null for links without one. */
  mac: string | null;
}

/** Where facts come from; tests pass a fake. */
export interface LinkSource {
  /** The link of that name, or null when there is none. */
  get(name: string): Promise<LinkFacts | null>;
  /** Calls onEvent on every link event of the namespace; returns a stop function. */
  watch(onEvent: () => void): () => void;
  close(): void;
}

/** Facts from a link message. */
export function linkFacts(m: rt.LinkMessage): LinkFacts | null {
  const name = m.attrs?.ifname;
  const index = m.data?.index;
  if (typeof name !== 'string' || typeof index !== 'number') return null;
  const mac = m.attrs.address;
  return {
    name,
    index,
    up: m.data.flags?.up === true,
    carrier: m.data.flags?.lowerUp === true,
    mac: mac && mac.length === 6 ? formatMac(mac) : null,
  };
}

/** The real source: one rtnetlink socket for requests, one in the link group for events. */
export function netlinkLinkSource(): LinkSource {
  let requests: RtNetlinkSocket | undefined;
  let events: RtNetlinkSocket | undefined;
  return {
    async get(name) {
      requests ??= createRtNetlink();
      try {
        const msgs = await requests.getLink({}, { ifname: name }, { timeout: 2000 });
        for (const m of msgs) {
          const f = m.kind === 'link' ? linkFacts(m) : null;
          if (f?.name === name) return f;
        }
        return null;
      } catch (err) {
        if (/ENODEV|No such device/i.test(errorMessage(err))) return null;
        throw err;
      }
    },
    watch(onEvent) {
      events ??= createRtNetlink();
      events.addMembership('LINK');
      const listener = (): void => onEvent();
      events.on('message', listener);
      return () => events?.off('message', listener);
    },
    close() {
      requests?.socket.close();
      events?.socket.close();
      requests = undefined;
      events = undefined;
    },
  };
}

export interface LinkMonitorOptions {
  /** The interfaces to follow. */
  names: string[];
  source?: LinkSource;
  clock?: Clock;
  /** Re-read every link this often even without events (default 1000 ms). */
  pollMs?: number;
  logger?: Logger;
  /** A followed link appeared, vanished, or changed up, carrier or MAC. */
  onChange?: (name: string, facts: LinkFacts | null) => void;
}

/** Follows a few links' facts. */
export class LinkMonitor {
  private readonly source: LinkSource;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly onChange: ((name: string, facts: LinkFacts | null) => void) | undefined;
  private names: string[];
  private readonly facts = new Map<string, LinkFacts | null>();
  private unwatch: (() => void) | undefined;
  private timer: TimerHandle | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private closed = false;

  constructor(opts: LinkMonitorOptions) {
    this.names = [...new Set(opts.names)];
    this.source = opts.source ?? netlinkLinkSource();
    this.clock = opts.clock ?? systemClock;
    this.log = opts.logger ?? silentLogger();
    this.onChange = opts.onChange;
    this.unwatch = this.source.watch(() => { void this.refresh(); });
    this.timer = this.clock.setInterval(() => { void this.refresh(); }, opts.pollMs ?? 1000);
    this.timer.unref?.();
  }

  /** The last facts read (undefined: not read yet; null: no such link). */
  get(name: string): LinkFacts | null | undefined {
    return this.facts.get(name);
  }

  /** Changes the followed set and reads it at once. */
  async follow(names: string[]): Promise<void> {
    this.names = [...new Set(names)];
    for (const n of [...this.facts.keys()]) if (!this.names.includes(n)) this.facts.delete(n);
    await this.refresh();
  }

  /**
   * Reads every followed link now. Calls never overlap: one asked for while
   * another runs makes that one run once more when it ends.
   */
  refresh(): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        for (const name of this.names) {
          let f: LinkFacts | null;
          try {
            f = await this.source.get(name);
          } catch (err) {
            this.log.warn({ ifname: name, err: errorMessage(err) }, 'paird: link: cannot read link; keeping the last facts');
            continue;
          }
          if (this.closed) return;
          const old = this.facts.get(name);
          this.facts.set(name, f);
          if (old === undefined || !sameFacts(old, f)) this.onChange?.(name, f);
        }
      } while (this.again && !this.closed);
    })().finally(() => { this.running = undefined; });
    return this.running;
  }

  close(): void {
    this.closed = true;
    this.unwatch?.();
    this.clock.clearInterval(this.timer);
    this.source.close();
  }
}

function sameFacts(a: LinkFacts | null, b: LinkFacts | null): boolean {
  if (a === null || b === null) return a === b;
  return a.index === b.index && a.up === b.up && a.carrier === b.carrier && a.mac === b.mac;
}
