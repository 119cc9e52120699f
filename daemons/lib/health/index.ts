// Package health is one registry of named warnings per daemon: what is wrong
// right now, since when, and how bad, for ternctl status and the bus. Every
// name is registered and documented in catalogue.ts (docs/health.md).
import { EventEmitter } from 'node:events';
import { systemClock, type Clock } from '../clock/index.js';
import type { WarningName } from './catalogue.js';

export { healthWarnings, warningPattern, type WarningInfo, type WarningName, type WarningPattern } from './catalogue.js';

export type Severity = 'warning' | 'error';

/** One active warning. name is stable (e.g. 'wan.wan0.down'); text is for people. */
export interface Warning {
  name: string;
  severity: Severity;
  text: string;
  /** Wall-clock ms when this warning was first raised (kept across updates). */
  since: number;
}

export interface HealthOptions {
  clock?: Clock;
}

/**
 * Registry of named warnings. set() raises or updates a warning, clear()
 * removes it; 'change' is emitted only when something really changed, so a
 * component can call set() every round without flooding subscribers. N is
 * the names it takes: the catalogue's (a name not registered there is a
 * type error); a test of the registry itself may widen it to string.
 */
export class Health<N extends string = WarningName> extends EventEmitter {
  private readonly clock: Clock;
  private readonly warnings = new Map<string, Warning>();

  constructor(opts: HealthOptions = {}) {
    super();
    this.clock = opts.clock ?? systemClock;
  }

  set(name: N, text: string, severity: Severity = 'warning'): void {
    const old = this.warnings.get(name);
    if (old && old.text === text && old.severity === severity) return;
    const w: Warning = { name, text, severity, since: old?.since ?? this.clock.now() };
    this.warnings.set(name, w);
    this.emit('change', { kind: 'set', warning: w });
  }

  clear(name: N): void {
    const old = this.warnings.get(name);
    if (!old) return;
    this.warnings.delete(name);
    this.emit('change', { kind: 'clear', warning: old });
  }

  /** Raise name when cond holds, clear it otherwise. */
  check(name: N, cond: boolean, text: string, severity: Severity = 'warning'): void {
    if (cond) this.set(name, text, severity);
    else this.clear(name);
  }

  get(name: string): Warning | undefined {
    return this.warnings.get(name);
  }

  /** All warnings, errors first, then by name. */
  list(): Warning[] {
    return [...this.warnings.values()].sort((a, b) =>
      a.severity === b.severity ? a.name.localeCompare(b.name) : a.severity === 'error' ? -1 : 1);
  }

  /** 'ok' with no warnings, else the worst severity present. */
  overall(): 'ok' | Severity {
    let worst: 'ok' | Severity = 'ok';
    for (const w of this.warnings.values()) {
      if (w.severity === 'error') return 'error';
      worst = 'warning';
    }
    return worst;
  }
}
