// The Lab: builds a topology out of network namespaces, veth pairs and
// bridges, runs processes inside its nodes, and tears everything down again
// (on down(), on process exit, on SIGINT/SIGTERM/SIGHUP and on uncaught
// errors), touching only what it created.
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TernError } from '../../daemons/lib/errors.js';
import { silentLogger, type Logger } from '../../daemons/lib/log/index.js';
import { inNetns, mustRun, run, runSync, type CommandResult, type RunOptions } from './command.js';
import { labKeys, renderApplianceConfig, type LabKeys } from './config.js';
import { LinkImpairment, impairmentProcesses, type ImpairHost } from './impair.js';
import { isAlive, refOf, terminate, terminateSync, type ProcessRef } from './proc.js';
import {
  endsOf, findNode, validateTopology, type LabNode, type NodeRole, type Topology,
} from './topology.js';

/** The repository root (dist/test/lab/lab.js → ../../..). */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** Where run directories go by default: <repo>/.lab/<prefix>/ (gitignored). */
export const defaultLabRoot = path.join(repoRoot, '.lab');

/**
 * Where each running lab leaves a pointer to its run directory, so
 * `cli down <prefix>` and cleanupStale find labs whatever their run
 * directory. /run is tmpfs: it is emptied by a reboot, like /run/netns.
 */
export const registryDir = '/run/tern-lab';

/** Prefixes the lab generates: "tl" + 6 hex digits. */
export const defaultPrefixPattern = /^tl[0-9a-f]{6}$/;

const prefixPattern = /^[a-z][a-z0-9]{1,11}$/;

/** A process the lab started, as state.json records it. */
export interface LabProcessRecord extends ProcessRef {
  node: string;
  name: string;
  argv: string[];
  log: string;
  startedAt: string;
  exitedAt?: string;
  exitCode?: number | null;
  exitSignal?: string | null;
}

/** <runDir>/state.json. */
export interface LabState {
  version: 1;
  prefix: string;
  runDir: string;
  /** building: Lab.up is still creating things; up: ready; down: torn down. */
  status: 'building' | 'up' | 'down';
  /** The process that built the lab and tears it down when it exits. */
  owner: ProcessRef;
  createdAt: string;
  downAt?: string;
  topology: Topology;
  /** Node name → namespace name. */
  namespaces: Record<string, string>;
  processes: LabProcessRecord[];
}

export interface LabOptions {
  /** Default <repo>/.lab/<prefix>. */
  runDir?: string;
  /** Namespace prefix; default "tl" + 6 random hex digits. */
  prefix?: string;
  /** Default: silent. */
  logger?: Logger;
}

/** How a process ended. */
export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A process started with Lab.spawn. */
export interface LabProcess {
  node: string;
  name: string;
  pid: number;
  /** Its stdout and stderr. */
  log: string;
  child: ChildProcess;
  /** Resolves when it has exited. */
  exited: Promise<ExitInfo>;
}

// ---------------------------------------------------------------------------
// Teardown when the owning process goes away without calling down().

const ownedLabs = new Set<Lab>();
let handlersInstalled = false;
const exitSignals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

function onProcessExit(): void {
  for (const lab of [...ownedLabs]) lab.downSync();
}

function onFatalSignal(signal: NodeJS.Signals): void {
  for (const lab of [...ownedLabs]) {
    lab.logger.warn({ signal }, `lab: teardown: ${signal} received; removing lab ${lab.prefix}`);
    lab.downSync();
  }
  // A listener replaces Node's default action (exit): exit the way the
  // signal would have, once the namespaces are gone.
  process.exit(128 + (os.constants.signals[signal] ?? 0));
}

function onUncaught(err: unknown): void {
  for (const lab of ownedLabs) lab.logger.error({ err }, `lab: teardown: uncaught error; removing lab ${lab.prefix} on exit`);
}

function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', onProcessExit);
  // The monitor only watches: the process still dies of the error, and the
  // 'exit' handler then removes the lab.
  process.on('uncaughtExceptionMonitor', onUncaught);
  for (const s of exitSignals) process.on(s, onFatalSignal);
}

function removeHandlersWhenIdle(): void {
  if (!handlersInstalled || ownedLabs.size > 0) return;
  handlersInstalled = false;
  process.off('exit', onProcessExit);
  process.off('uncaughtExceptionMonitor', onUncaught);
  for (const s of exitSignals) process.off(s, onFatalSignal);
}

// ---------------------------------------------------------------------------

function nowIso(): string {
  return new Date().toISOString();
}

function writeJsonAtomic(file: string, value: unknown): void {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`);
  fs.renameSync(tmp, file);
}

function readState(runDir: string): LabState {
  const file = path.join(runDir, 'state.json');
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as LabState;
  } catch (err) {
    throw new TernError('TERN_E_LAB_STATE', `lab: attach: cannot read ${file}: ${(err as Error).message}; want the state.json of a lab run directory`, { cause: err });
  }
}

/** The namespaces that exist now. */
function listNetns(): string[] {
  const r = runSync(['ip', 'netns', 'list']);
  return r.stdout.split('\n').map((l) => l.trim().split(/\s+/)[0] ?? '').filter((n) => n.length > 0);
}

function registryFile(prefix: string): string {
  return path.join(registryDir, `${prefix}.json`);
}

/**
 * Resolve a run directory or prefix to a run directory. A ref that is not
 * a directory holding state.json is looked up only as a prefix
 * (prefixPattern), never joined into a path as it came.
 */
export function resolveRunDir(ref: string): string {
  if (fs.existsSync(path.join(ref, 'state.json'))) return path.resolve(ref);
  if (!prefixPattern.test(ref)) {
    throw new TernError('TERN_E_LAB_STATE', `lab: attach: ${JSON.stringify(ref)} is neither a lab run directory nor a lab prefix; want a directory holding state.json or a prefix like tl1a2b3c`);
  }
  try {
    const entry = JSON.parse(fs.readFileSync(registryFile(ref), 'utf8')) as { runDir: string };
    if (fs.existsSync(path.join(entry.runDir, 'state.json'))) return entry.runDir;
  } catch {
    // Not registered (the lab is down, or ran with another /run): try the default place.
  }
  const fallback = path.join(defaultLabRoot, ref);
  if (fs.existsSync(path.join(fallback, 'state.json'))) return fallback;
  throw new TernError('TERN_E_LAB_STATE', `lab: attach: ${ref} is neither a lab run directory nor the prefix of a known lab; want a directory holding state.json or a prefix like tl1a2b3c`);
}

/** A lab built from a topology, or attached to from its state.json. */
export class Lab implements ImpairHost {
  readonly topology: Topology;
  readonly prefix: string;
  readonly runDir: string;
  readonly logger: Logger;
  /** True in the process that built the lab (it tears down on exit). */
  readonly owner: boolean;
  private state: LabState;
  private readonly children = new Map<string, LabProcess>();
  private downing: Promise<void> | undefined;
  private keys: LabKeys | undefined;

  private constructor(state: LabState, logger: Logger, owner: boolean) {
    this.state = state;
    this.topology = state.topology;
    this.prefix = state.prefix;
    this.runDir = state.runDir;
    this.logger = logger;
    this.owner = owner;
  }

  /** Build topology and return the running lab. On failure, what was built is removed before the error is thrown. */
  static async up(topology: Topology, opts: LabOptions = {}): Promise<Lab> {
    validateTopology(topology);
    const prefix = opts.prefix ?? `tl${crypto.randomBytes(3).toString('hex')}`;
    if (!prefixPattern.test(prefix)) {
      throw new TernError('TERN_E_LAB_TOPOLOGY', `lab: up: prefix ${JSON.stringify(prefix)} must match ${prefixPattern}`);
    }
    const namespaces = Object.fromEntries(topology.nodes.map((n) => [n.name, `${prefix}-${n.name}`]));
    const existing = new Set(listNetns());
    const clash = Object.values(namespaces).find((ns) => existing.has(ns));
    if (clash) throw new TernError('TERN_E_LAB_TOPOLOGY', `lab: up: namespace ${clash} already exists; want an unused prefix`);

    const runDir = path.resolve(opts.runDir ?? path.join(defaultLabRoot, prefix));
    fs.mkdirSync(path.join(runDir, 'logs'), { recursive: true });
    const owner = refOf(process.pid)!;
    const state: LabState = {
      version: 1, prefix, runDir, status: 'building', owner, createdAt: nowIso(), topology, namespaces, processes: [],
    };
    const lab = new Lab(state, opts.logger ?? silentLogger(), true);
    // Record and arm teardown before creating anything, so a crash in the
    // middle of building still leaves a state that cleanupStale can act on.
    lab.saveState();
    fs.mkdirSync(registryDir, { recursive: true });
    writeJsonAtomic(registryFile(prefix), { prefix, runDir, owner });
    ownedLabs.add(lab);
    installHandlers();
    try {
      await lab.build();
    } catch (err) {
      lab.logger.error({ err }, `lab: up: building ${prefix} failed; tearing down`);
      await lab.down();
      throw err;
    }
    lab.state.status = 'up';
    lab.saveState();
    lab.logger.info({ prefix, runDir }, `lab: up: ${topology.nodes.length} nodes, ${topology.links.length} links ready`);
    return lab;
  }

  /** Attach to a running lab by run directory or prefix (for the CLI). */
  static attach(ref: string, opts: { logger?: Logger } = {}): Lab {
    const runDir = resolveRunDir(ref);
    const state = readState(runDir);
    return new Lab(state, opts.logger ?? silentLogger(), state.owner.pid === process.pid);
  }

  /**
   * Remove labs left by crashed runs: namespaces named <prefix>-* whose
   * prefix matches prefixPattern and whose state says the owner process is
   * gone. Labs without a readable state are left alone (their owner cannot
   * be known). Returns the prefixes removed.
   */
  static async cleanupStale(prefixPattern: RegExp = defaultPrefixPattern, opts: { logger?: Logger } = {}): Promise<string[]> {
    const logger = opts.logger ?? silentLogger();
    const prefixes = new Set<string>();
    for (const ns of listNetns()) {
      const dash = ns.indexOf('-');
      if (dash > 0 && prefixPattern.test(ns.slice(0, dash))) prefixes.add(ns.slice(0, dash));
    }
    if (fs.existsSync(registryDir)) {
      for (const f of fs.readdirSync(registryDir)) {
        const p = f.replace(/\.json$/, '');
        if (f.endsWith('.json') && prefixPattern.test(p)) prefixes.add(p);
      }
    }
    const removed: string[] = [];
    for (const prefix of [...prefixes].sort()) {
      let lab: Lab;
      try {
        lab = Lab.attach(prefix, { logger });
      } catch {
        logger.warn({ prefix }, `lab: cleanup: ${prefix} has no readable state.json; leaving it (remove with ip netns del)`);
        continue;
      }
      if (isAlive(lab.state.owner)) {
        logger.info({ prefix, owner: lab.state.owner.pid }, `lab: cleanup: ${prefix} is owned by running pid ${lab.state.owner.pid}; leaving it`);
        continue;
      }
      await lab.down();
      removed.push(prefix);
    }
    return removed;
  }

  /** A copy of the current state (what state.json holds). */
  getState(): LabState {
    return structuredClone(this.state);
  }

  /** The namespace of node. */
  ns(node: string): string {
    const ns = this.state.namespaces[node];
    if (!ns) throw new TernError('TERN_E_LAB_TOPOLOGY', `lab: ${this.prefix}: unknown node ${JSON.stringify(node)}; want one of ${Object.keys(this.state.namespaces).join(', ')}`);
    return ns;
  }

  nodes(role?: NodeRole): LabNode[] {
    return this.topology.nodes.filter((n) => role === undefined || n.role === role);
  }

  /** The pid that owns (and will tear down) this lab. */
  ownerPid(): number {
    return this.state.owner.pid;
  }

  /** Run argv inside node and wait for it; never throws for a non-zero exit. */
  exec(node: string, argv: string[], opts: RunOptions = {}): Promise<CommandResult> {
    return run(inNetns(this.ns(node), this.withOwnRun(node, argv)), opts);
  }

  /** exec that throws TERN_E_LAB_COMMAND unless argv exits 0; returns stdout. */
  mustExec(node: string, argv: string[], opts: RunOptions = {}): Promise<string> {
    return mustRun(inNetns(this.ns(node), this.withOwnRun(node, argv)), opts);
  }

  /**
   * wireguard-go keeps its UAPI sockets in /run/wireguard, one directory for
   * the whole machine, while every lab box shares this kernel. Each
   * appliance and host therefore runs in a mount namespace of its own with
   * <runDir>/nodes/<node>/wireguard bound over /run/wireguard, as a real box
   * has its own /run: two labs, or two boxes, can use the same interface
   * names, and a restarted daemon finds its sockets again.
   */
  private withOwnRun(node: string, argv: readonly string[]): string[] {
    const role = findNode(this.topology, node)?.role;
    if (role !== 'appliance' && role !== 'host') return [...argv];
    const dir = path.join(this.runDir, 'nodes', node, 'wireguard');
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    fs.mkdirSync('/run/wireguard', { recursive: true, mode: 0o755 });
    return ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', 'mount --bind "$0" /run/wireguard && exec "$@"', dir, ...argv];
  }

  /**
   * Start a long-running process in node, tracked by (node, name): stdout
   * and stderr go to <runDir>/logs/<node>.<name>.log, the pid goes into
   * state.json, and down() ends it. Its own process group, so ^C in the
   * terminal reaches only the lab, which stops it in order.
   */
  spawn(node: string, name: string, argv: string[], opts: { env?: Record<string, string> } = {}): LabProcess {
    const ns = this.ns(node);
    const key = `${node}/${name}`;
    if (this.children.has(key) && this.children.get(key)!.child.exitCode === null && this.children.get(key)!.child.signalCode === null) {
      throw new TernError('TERN_E_LAB_COMMAND', `lab: spawn: ${name} is already running in ${node}; want a new name or kill() first`);
    }
    if (!/^[A-Za-z0-9_.-]+$/.test(name)) throw new TernError('TERN_E_LAB_COMMAND', `lab: spawn: name ${JSON.stringify(name)} must be a file-name-safe word`);
    const log = path.join(this.runDir, 'logs', `${node}.${name}.log`);
    const fd = fs.openSync(log, 'a');
    let child: ChildProcess;
    try {
      child = spawn('ip', ['netns', 'exec', ns, ...this.withOwnRun(node, argv)], {
        env: { ...process.env, ...opts.env },
        stdio: ['ignore', fd, fd],
        detached: true,
      });
    } finally {
      fs.closeSync(fd);
    }
    const exited = new Promise<ExitInfo>((resolve) => {
      child.on('error', (err) => {
        this.logger.error({ err, node, name }, `lab: spawn: ${name} in ${node} failed to start`);
        resolve({ code: null, signal: null });
      });
      child.on('exit', (code, signal) => {
        const rec = this.state.processes.find((p) => p.pid === child.pid && p.node === node && p.name === name);
        if (rec && this.state.status !== 'down') {
          rec.exitedAt = nowIso();
          rec.exitCode = code;
          rec.exitSignal = signal;
          this.saveState();
        }
        resolve({ code, signal });
      });
    });
    if (child.pid === undefined) throw new TernError('TERN_E_LAB_COMMAND', `lab: spawn: ${argv.join(' ')} in ${node} did not start`);
    // `ip netns exec` execs argv in place, so this pid is the program itself.
    const ref = refOf(child.pid) ?? { pid: child.pid, startTime: '' };
    this.state.processes.push({ ...ref, node, name, argv, log, startedAt: nowIso() });
    this.saveState();
    const proc: LabProcess = { node, name, pid: child.pid, log, child, exited };
    this.children.set(key, proc);
    this.logger.debug({ node, name, pid: child.pid, argv }, `lab: spawn: ${name} in ${node}`);
    return proc;
  }

  /** The tracked process (node, name), if started by this Lab object. */
  process(node: string, name: string): LabProcess | undefined {
    return this.children.get(`${node}/${name}`);
  }

  /** Send signal to the tracked process (node, name) and wait for it to exit. */
  async kill(node: string, name: string, signal: NodeJS.Signals = 'SIGTERM'): Promise<ExitInfo> {
    const proc = this.children.get(`${node}/${name}`);
    if (!proc) throw new TernError('TERN_E_LAB_COMMAND', `lab: kill: no process ${name} started in ${node}`);
    if (proc.child.exitCode === null && proc.child.signalCode === null) {
      try {
        process.kill(-proc.pid, signal);
      } catch {
        // Already gone between the check and the signal.
      }
    }
    return proc.exited;
  }

  /** <runDir>/nodes/<node>/{etc,run,state} of an appliance. */
  applianceDirs(node: string): { etc: string; run: string; state: string } {
    if (findNode(this.topology, node)?.role !== 'appliance') {
      throw new TernError('TERN_E_LAB_TOPOLOGY', `lab: ${node} is not an appliance; want one of ${this.nodes('appliance').map((n) => n.name).join(', ')}`);
    }
    const base = path.join(this.runDir, 'nodes', node);
    return { etc: path.join(base, 'etc'), run: path.join(base, 'run'), state: path.join(base, 'state') };
  }

  /** The environment that points Tern's paths (daemons/lib/paths) at the appliance's directories. */
  applianceEnv(node: string): Record<string, string> {
    const d = this.applianceDirs(node);
    return { TERN_ETC_DIR: d.etc, TERN_RUN_DIR: d.run, TERN_STATE_DIR: d.state, TERN_CONFIG: path.join(d.etc, 'tern.yaml') };
  }

  /**
   * Render the appliance's tern.yaml from the topology, write it to
   * TERN_CONFIG, and put the site's WireGuard private key where the config
   * says (<state>/keys/overlay.key, mode 0600). Returns the config path.
   */
  writeApplianceConfig(node: string): string {
    const env = this.applianceEnv(node);
    const dirs = this.applianceDirs(node);
    this.keys ??= labKeys(this.topology, path.join(this.runDir, 'keys'));
    const site = this.topology.sites.find((s) => s.appliances.includes(node));
    if (!site) throw new TernError('TERN_E_LAB_TOPOLOGY', `lab: config: appliance ${node} belongs to no site`);
    const keyFile = path.join(dirs.state, 'keys', 'overlay.key');
    fs.mkdirSync(path.dirname(keyFile), { recursive: true, mode: 0o700 });
    fs.writeFileSync(keyFile, `${this.keys.sites.get(site.name)!.privateKey}\n`, { mode: 0o600 });
    const text = renderApplianceConfig(this.topology, node, this.keys, { privateKeyFile: keyFile, labName: this.prefix });
    fs.writeFileSync(env.TERN_CONFIG!, text);
    return env.TERN_CONFIG!;
  }

  /** The impairment controls of one link end, "node:ifname" (either end of the link). */
  impair(end: string): LinkImpairment {
    return new LinkImpairment(this, end);
  }

  /**
   * Kill the processes this lab started (by recorded pid), remove its
   * namespaces and everything in them, mark state.json down. Idempotent.
   */
  down(): Promise<void> {
    this.downing ??= this.tearDown();
    return this.downing;
  }

  /** down() for exit paths where nothing asynchronous runs. */
  downSync(): void {
    if (this.state.status === 'down' && !ownedLabs.has(this)) return;
    terminateSync(this.recordedProcesses());
    terminateSync(this.namespaceProcesses());
    this.removeNamespacesSync();
    this.markDown();
  }

  // Runs in full even for a lab whose state already says down (torn down
  // by another process, or half torn down by a crash): every step is a
  // no-op for what is already gone.
  private async tearDown(): Promise<void> {
    this.logger.info({ prefix: this.prefix }, `lab: down: removing ${this.prefix}`);
    await terminate(this.recordedProcesses());
    await terminate(this.namespaceProcesses());
    this.removeNamespacesSync();
    this.markDown();
  }

  /** Every process recorded for this lab: spawned ones and impairment relays. */
  private recordedProcesses(): ProcessRef[] {
    let recorded = this.state.processes;
    try {
      // Another process (the CLI) may have added records: read the file too.
      recorded = [...recorded, ...readState(this.runDir).processes];
    } catch {
      // The run directory is gone: only what this object knows remains.
    }
    const unique = new Map<string, ProcessRef>();
    for (const r of [...recorded, ...impairmentProcesses(this.runDir)]) {
      if (r.startTime !== '') unique.set(`${r.pid}/${r.startTime}`, { pid: r.pid, startTime: r.startTime });
    }
    return [...unique.values()];
  }

  /**
   * Processes still living in the lab's namespaces once the recorded ones
   * are gone: started by them and detached (wireguard-go daemonizes, and
   * tunneld leaves it running on purpose so a restart never flaps a
   * tunnel). Only the lab's processes can be in its namespaces, and a
   * process left there would keep the namespace alive after `netns del`.
   */
  private namespaceProcesses(): ProcessRef[] {
    const existing = new Set(listNetns());
    const refs: ProcessRef[] = [];
    for (const ns of Object.values(this.state.namespaces)) {
      if (!existing.has(ns)) continue;
      for (const line of runSync(['ip', 'netns', 'pids', ns]).stdout.split('\n')) {
        const pid = Number(line.trim());
        const ref = pid > 0 && pid !== process.pid ? refOf(pid) : undefined;
        if (ref) refs.push(ref);
      }
    }
    return refs;
  }

  private removeNamespacesSync(): void {
    const existing = new Set(listNetns());
    for (const ns of Object.values(this.state.namespaces)) {
      fs.rmSync(path.join('/etc/netns', ns), { recursive: true, force: true });
      if (!existing.has(ns)) continue;
      const r = runSync(['ip', 'netns', 'del', ns]);
      if (r.code !== 0 && listNetns().includes(ns)) {
        this.logger.error({ ns, stderr: r.stderr }, `lab: down: ip netns del ${ns} failed: ${r.stderr.trim()}`);
      }
    }
  }

  private markDown(): void {
    ownedLabs.delete(this);
    removeHandlersWhenIdle();
    this.state.status = 'down';
    this.state.downAt = nowIso();
    try {
      this.saveState();
    } catch {
      // Run directory removed by the caller: nothing left to mark.
    }
    try {
      const entry = JSON.parse(fs.readFileSync(registryFile(this.prefix), 'utf8')) as { runDir: string };
      if (entry.runDir === this.runDir) fs.rmSync(registryFile(this.prefix), { force: true });
    } catch {
      // Not registered.
    }
  }

  private saveState(): void {
    writeJsonAtomic(path.join(this.runDir, 'state.json'), this.state);
  }

  // -------------------------------------------------------------------------
  // Building.

  private async build(): Promise<void> {
    const topo = this.topology;
    const nsOf = (node: string) => this.ns(node);

    await mustRun(['ip', '-batch', '-'], { input: topo.nodes.map((n) => `netns add ${nsOf(n.name)}`).join('\n') });

    // `ip netns exec` binds /etc/netns/<ns>/* over /etc: each node gets a
    // resolver that answers nothing at once (loopback, no server), so a name
    // lookup in the lab fails fast instead of waiting for, or reaching, a
    // resolver outside.
    for (const n of topo.nodes) {
      const dir = path.join('/etc/netns', nsOf(n.name));
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(path.join(dir, 'resolv.conf'), '# Tern lab: no resolver in the lab network\nnameserver 127.0.0.1\noptions timeout:1 attempts:1\n');
    }

    // Both ends created directly in their namespaces: nothing ever appears
    // in the root namespace, so names never collide with the host's.
    await mustRun(['ip', '-batch', '-'], {
      input: topo.links.map((l) =>
        `link add name ${l.a.ifname} netns ${nsOf(l.a.node)} type veth peer name ${l.b.ifname} netns ${nsOf(l.b.node)}`).join('\n'),
    });

    await Promise.all(topo.nodes.map(async (n) => {
      const ns = nsOf(n.name);
      const ends = endsOf(topo, n.name);
      const lines = ['link set dev lo up'];
      if (n.role === 'switch') {
        lines.push('link add name br0 type bridge', 'link set dev br0 up');
        for (const e of ends) lines.push(`link set dev ${e.end.ifname} master br0`);
      }
      for (const e of ends) {
        if (e.end.address) lines.push(`address add ${e.end.address} dev ${e.end.ifname}`);
        lines.push(`link set dev ${e.end.ifname} up`);
      }
      await mustRun(['ip', '-n', ns, '-batch', '-'], { input: lines.join('\n') });
      const sysctls: string[] = [];
      if (n.role === 'router' || n.role === 'appliance') sysctls.push('net.ipv4.ip_forward=1');
      if (n.role === 'router') {
        // Routers carry delay relays and asymmetric test traffic: strict
        // reverse-path filtering would drop packets coming back from a relay.
        sysctls.push('net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0');
        for (const e of ends) sysctls.push(`net.ipv4.conf.${e.end.ifname}.rp_filter=0`);
      }
      if (sysctls.length > 0) await mustRun(inNetns(ns, ['sysctl', '-q', '-w', ...sysctls]));
    }));

    await Promise.all(topo.nodes.map(async (n) => {
      const lines = topo.routes.filter((r) => r.node === n.name).map((r) => `route add ${r.to} via ${r.via}`);
      if (n.role === 'router') {
        // Delay relays need policy rules that act before the local table
        // (so traffic to the router itself is delayed too): move the local
        // lookup from preference 0 to 200 (impair.ts documents the layout).
        lines.push('rule add pref 200 lookup local', 'rule del pref 0');
      }
      if (lines.length > 0) await mustRun(['ip', '-n', nsOf(n.name), '-batch', '-'], { input: lines.join('\n') });
    }));

    for (const a of this.nodes('appliance')) {
      const d = this.applianceDirs(a.name);
      for (const dir of [d.etc, d.run, d.state]) fs.mkdirSync(dir, { recursive: true });
    }
  }

  /** Synchronous check used by tests: namespaces of this lab that still exist. */
  remainingNamespaces(): string[] {
    const mine = new Set(Object.values(this.state.namespaces));
    return listNetns().filter((ns) => mine.has(ns) || ns.startsWith(`${this.prefix}-`));
  }
}
