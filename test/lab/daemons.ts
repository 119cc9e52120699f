// Starting Tern's daemons on the lab's appliances: by convention every
// dist/daemons/<name>/main.js except lib, ctl and the exporter, each appliance with its
// own config and directories.
import fs from 'node:fs';
import path from 'node:path';
import type { Lab, LabProcess } from './lab.js';
import { repoRoot } from './lab.js';

/**
 * Folders under dist/daemons that are not daemons: the shared library, and
 * programs without a bus socket or sd_notify (ternctl; the exporter, which
 * the lab tests start themselves where they scrape).
 */
const notDaemons = new Set(['lib', 'ctl', 'exporter']);

/** The daemons built so far: names of dist/daemons/<name>/main.js, sorted. */
export function discoverDaemons(daemonsDir = path.join(repoRoot, 'dist', 'daemons')): string[] {
  if (!fs.existsSync(daemonsDir)) return [];
  return fs.readdirSync(daemonsDir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && !notDaemons.has(d.name) && fs.existsSync(path.join(daemonsDir, d.name, 'main.js')))
    .map((d) => d.name)
    .sort();
}

export interface StartedDaemons {
  /** Daemon names found. */
  daemons: string[];
  /** One process per (appliance, daemon). */
  processes: LabProcess[];
  /** A line for people: what was found and started. */
  summary: string;
}

export interface StartDaemonsOptions {
  /** Where to look; default <repo>/dist/daemons. */
  daemonsDir?: string;
  /** Appliances to start them on; default all. */
  nodes?: string[];
}

/**
 * Start every daemon on every appliance with the appliance's environment
 * (TERN_ETC_DIR, TERN_RUN_DIR, TERN_STATE_DIR, TERN_CONFIG). An appliance
 * without a tern.yaml gets one from the topology first. Each process is
 * named after its daemon: logs in <runDir>/logs/<node>.<daemon>.log.
 */
export function startDaemons(lab: Lab, opts: StartDaemonsOptions = {}): StartedDaemons {
  const daemonsDir = opts.daemonsDir ?? path.join(repoRoot, 'dist', 'daemons');
  const daemons = discoverDaemons(daemonsDir);
  const nodes = opts.nodes ?? lab.nodes('appliance').map((n) => n.name);
  const processes: LabProcess[] = [];
  for (const node of nodes) {
    const env = lab.applianceEnv(node);
    if (daemons.length > 0 && !fs.existsSync(env.TERN_CONFIG!)) lab.writeApplianceConfig(node);
    for (const name of daemons) {
      processes.push(lab.spawn(node, name, [process.execPath, path.join(daemonsDir, name, 'main.js')], { env }));
    }
  }
  const summary = daemons.length === 0
    ? `lab: daemons: found no daemon under ${daemonsDir} (want <name>/main.js); none started`
    : `lab: daemons: started ${daemons.join(', ')} on ${nodes.join(', ')} (${processes.length} processes)`;
  lab.logger.info({ daemons, nodes }, summary);
  return { daemons, processes, summary };
}
