// The lab's command line (dist/test/lab/cli.js, run as root): stand the
// default network up, check it, impair its links, run commands in its
// nodes, tear it down, clean up after crashed runs.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { pino, type Logger } from 'pino';
import { loadConfig } from '../../daemons/lib/config/index.js';
import { errorMessage, isTernError } from '../../daemons/lib/errors.js';
import { formatReachability, reachabilityPlan, runReachability, waitForOverlay } from './checks.js';
import { startDaemons } from './daemons.js';
import { internetServers, startInternet } from './internet.js';
import { relayBinary, relayBuildCommand, type Direction } from './impair.js';
import { Lab, defaultPrefixPattern, repoRoot } from './lab.js';
import { applianceLan, applianceWans, defaultTopology, endsOf, hostOf, type Topology } from './topology.js';

/** pino lines reduced to their message, for people at a terminal. */
function humanLogger(verbose: boolean): Logger {
  const destination = {
    write(line: string): void {
      try {
        const o = JSON.parse(line) as { msg?: string };
        process.stderr.write(`${o.msg ?? line.trim()}\n`);
      } catch {
        process.stderr.write(line);
      }
    },
  };
  return pino({ level: verbose ? 'debug' : 'info' }, destination);
}

const cliName = 'node dist/test/lab/cli.js';

/** The short map `up` prints: nodes with addresses, links, and how to use them. */
function networkMap(lab: Lab): string {
  const topo: Topology = lab.topology;
  const lines: string[] = [`Tern lab ${lab.prefix} (run dir ${lab.runDir})`, '', 'Nodes (namespace, addresses):'];
  for (const n of topo.nodes) {
    const addrs = endsOf(topo, n.name).filter((e) => e.end.address).map((e) => `${e.end.ifname} ${e.end.address}`);
    lines.push(`  ${n.name.padEnd(11)} ${n.role.padEnd(9)} ${lab.ns(n.name).padEnd(20)} ${addrs.join(', ') || '(bridge br0)'}  - ${n.description}`);
  }
  lines.push('', 'Links (customer end ↔ provider end):');
  for (const l of topo.links) {
    const wan = l.wan ? `  WAN ${l.wan.name} ${l.wan.downMbps}/${l.wan.upMbps} Mbit/s` : '';
    lines.push(`  ${`${l.a.node}:${l.a.ifname}`.padEnd(20)} ↔ ${`${l.b.node}:${l.b.ifname}`.padEnd(22)} ${l.use}${wan}`);
  }
  lines.push('', 'Sites:');
  for (const s of topo.sites) {
    const gw = s.appliances.map((a) => `${a} ${applianceWans(topo, a).map((w) => hostOf(w.address)).join('/')} lan ${hostOf(applianceLan(topo, a)?.address ?? '')}`);
    lines.push(`  ${s.name.padEnd(7)} LAN ${s.lanPrefix.padEnd(12)} ${s.vip ? `VIP ${s.vip} ` : ''}overlay ${s.overlayAddress}: ${gw.join('; ')}`);
  }
  const servers = internetServers(topo);
  const web = servers.find((s) => s.services.includes('http'));
  const dns = servers.find((s) => s.services.includes('dns'));
  if (servers.length > 0) {
    lines.push('', `Internet servers (zone ${topo.internet!.zone}, TTL ${topo.internet!.ttl} s):`);
    for (const s of servers) lines.push(`  ${s.node.padEnd(7)} ${s.address.padEnd(15)} ${s.services.join(', ').padEnd(13)} ${s.names.join(', ')}`);
  }
  lines.push(
    '',
    'Step into a node:      ip netns exec ' + lab.ns('office1') + ' bash',
    `Run a command:         ${cliName} exec ${lab.prefix} officehost -- fping -c 3 -t 500 10.1.0.2`,
    `Ask an appliance:      ${cliName} exec ${lab.prefix} office1 -- ternctl status`,
    ...(web && dns ? [
      `Ask the internet:      ${cliName} exec ${lab.prefix} rw -- curl -s http://${web.address}/`,
      `                       ${cliName} exec ${lab.prefix} rw -- dig @${dns.address} ${web.names[0] ?? topo.internet!.zone}`,
    ] : []),
    `Impair a link:         ${cliName} impair ${lab.prefix} office1:wan0 delay 40 10`,
    `                       (loss PCT | delay MS [JITTER] | rate MBIT | blackhole | down | up | clear | show; --dir in|out|both)`,
    `Appliance files:       ${lab.runDir}/nodes/<appliance>/{etc,run,state}; logs in ${lab.runDir}/logs/`,
  );
  return lines.join('\n');
}

function parseNumber(v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`${JSON.stringify(v)} is not a number`);
  return n;
}

/** Write every appliance's tern.yaml and check it with the config loader; returns the failures. */
async function validateConfigs(lab: Lab, log: Logger): Promise<number> {
  let failed = 0;
  for (const a of lab.nodes('appliance')) {
    const file = lab.writeApplianceConfig(a.name);
    try {
      await loadConfig(file);
      log.info(`ok   config of ${a.name} validates (${file})`);
    } catch (err) {
      failed++;
      log.error(`FAIL config of ${a.name} does not validate: ${errorMessage(err)}`);
    }
  }
  return failed;
}

async function cmdUp(opts: { check?: boolean; prefix?: string; runDir?: string; daemons: boolean; verbose?: boolean }): Promise<number> {
  const log = humanLogger(opts.verbose ?? false);
  const lab = await Lab.up(defaultTopology(), { logger: log, ...(opts.prefix ? { prefix: opts.prefix } : {}), ...(opts.runDir ? { runDir: opts.runDir } : {}) });
  const configFailures = await validateConfigs(lab, log);
  // The internet's servers are part of the network, not Tern: they run with --no-daemons too.
  await startInternet(lab);
  // startDaemons logs its summary through the lab's logger.
  const started = opts.daemons ? startDaemons(lab) : undefined;
  const overlay = started?.daemons.includes('tunneld') ?? false;
  if (overlay) await waitForOverlay(lab, log);
  if (opts.check) {
    const results = await runReachability(lab, reachabilityPlan(lab.topology, { overlay }));
    process.stdout.write(`${formatReachability(results)}\n`);
    const failed = results.filter((r) => !r.ok).length + configFailures;
    const passed = results.length + lab.nodes('appliance').length - failed;
    const relay = fs.existsSync(relayBinary());
    process.stdout.write(`${relay ? 'ok  ' : 'warn'} delay relay ${relay ? 'built' : `missing: build it with ${relayBuildCommand}`}\n`);
    process.stdout.write(`${passed} passed, ${failed} failed\n`);
    await lab.down();
    return failed === 0 ? 0 : 1;
  }
  process.stdout.write(`${networkMap(lab)}\n\nUp. Ctrl-C tears the lab down.\n`);
  // Lab's SIGINT/SIGTERM handler tears down and exits; until then, idle.
  await new Promise<never>(() => { setInterval(() => undefined, 1 << 30); });
  return 0;
}

async function cmdImpair(ref: string, end: string, kind: string, args: string[], opts: { dir?: Direction; burst?: number }): Promise<number> {
  const lab = Lab.attach(ref, { logger: humanLogger(false) });
  const imp = lab.impair(end);
  const dir = opts.dir ? { direction: opts.dir } : {};
  const num = (i: number, what: string): number => {
    if (args[i] === undefined) throw new InvalidArgumentError(`${kind} needs ${what}`);
    return parseNumber(args[i]!);
  };
  switch (kind) {
    case 'loss': await imp.loss(num(0, 'a percentage'), dir); break;
    case 'delay': await imp.delay(num(0, 'milliseconds'), args[1] === undefined ? 0 : num(1, 'jitter milliseconds'), dir); break;
    case 'rate': await imp.rate(num(0, 'Mbit/s'), { ...dir, ...(opts.burst === undefined ? {} : { burst: opts.burst }) }); break;
    case 'blackhole': await imp.blackhole(dir); break;
    case 'down': await imp.linkDown(); break;
    case 'up': await imp.linkUp(); break;
    case 'clear': {
      const what = args[0];
      if (what !== undefined && !['loss', 'blackhole', 'rate', 'delay', 'down'].includes(what)) {
        throw new InvalidArgumentError(`clear ${what}: want loss, blackhole, rate, delay or down (or nothing for all)`);
      }
      await imp.clear(what as 'loss' | 'blackhole' | 'rate' | 'delay' | 'down' | undefined);
      break;
    }
    case 'show': process.stdout.write(`${JSON.stringify(await imp.stats(), null, 2)}\n`); break;
    default: throw new InvalidArgumentError(`unknown impairment ${JSON.stringify(kind)}; want loss, delay, rate, blackhole, down, up, clear or show`);
  }
  process.stdout.write(`${imp.describe()}\n`);
  return 0;
}

function cmdExec(ref: string, node: string, argv: string[]): number {
  const lab = Lab.attach(ref);
  if (argv.length === 0) throw new InvalidArgumentError('exec needs a command after --');
  // On an appliance the command gets that box's Tern environment (its
  // tern.yaml, sockets and state) and the repository's ternctl on PATH,
  // as a field engineer's shell on the box would have.
  const appliance = lab.topology.nodes.find((n) => n.name === node)?.role === 'appliance';
  const env = appliance
    ? { ...process.env, ...lab.applianceEnv(node), PATH: `${path.join(repoRoot, 'bin')}:${process.env.PATH ?? '/usr/bin:/bin'}` }
    : process.env;
  const r = spawnSync('ip', ['netns', 'exec', lab.ns(node), ...argv], { stdio: 'inherit', env });
  return r.status ?? 1;
}

async function cmdDown(ref: string): Promise<number> {
  const lab = Lab.attach(ref, { logger: humanLogger(false) });
  await lab.down();
  process.stdout.write(`lab ${lab.prefix} is down\n`);
  return 0;
}

async function cmdCleanup(opts: { pattern?: string }): Promise<number> {
  const pattern = opts.pattern ? new RegExp(opts.pattern) : defaultPrefixPattern;
  const removed = await Lab.cleanupStale(pattern, { logger: humanLogger(false) });
  process.stdout.write(removed.length === 0 ? 'no stale lab found\n' : `removed ${removed.join(', ')}\n`);
  return 0;
}

/** The command table: name, arguments, what it does, handler. */
function buildProgram(setCode: (code: number) => void): Command {
  const program = new Command('tern-lab')
    .description('The Tern network lab: appliances, ISPs and hosts in network namespaces (run as root)')
    .showHelpAfterError();
  program.command('up')
    .description('stand up the default topology, write configs, start daemons, print the map; Ctrl-C tears down')
    .option('--check', 'run the smoke checks (reachability matrix, configs), print them, tear down; exit 1 on failure')
    .option('--prefix <prefix>', 'namespace prefix (default tl + 6 random hex digits)')
    .option('--run-dir <dir>', 'run directory (default .lab/<prefix>)')
    .option('--no-daemons', 'do not start the daemons')
    .option('-v, --verbose', 'log every command')
    .action(async (o) => setCode(await cmdUp(o)));
  program.command('impair')
    .description('impair a link of a running lab: loss PCT | delay MS [JITTER] | rate MBIT | blackhole | down | up | clear [KIND] | show')
    .argument('<lab>', 'run directory or prefix')
    .argument('<end>', 'link end, node:ifname (e.g. office1:wan0 or ispa:office1)')
    .argument('<kind>', 'loss, delay, rate, blackhole, down, up, clear or show')
    .argument('[values...]', 'numbers for the kind')
    .option('--dir <dir>', 'in, out or both, relative to <end> (default: out; blackhole: both)', (v) => {
      if (v !== 'in' && v !== 'out' && v !== 'both') throw new InvalidArgumentError('want in, out or both');
      return v;
    })
    .option('--burst <bytes>', 'tbf burst for rate', parseNumber)
    .action(async (ref, end, kind, values, o) => setCode(await cmdImpair(ref, end, kind, values, o)));
  program.command('exec')
    .description('run a command inside a node of a running lab: exec <lab> <node> -- cmd... (on an appliance: with its TERN_* environment and ternctl on PATH)')
    .argument('<lab>', 'run directory or prefix')
    .argument('<node>', 'node name')
    .argument('<cmd...>', 'the command')
    .action((ref, node, cmd) => setCode(cmdExec(ref, node, cmd)));
  program.command('down')
    .description('tear a running lab down')
    .argument('<lab>', 'run directory or prefix')
    .action(async (ref) => setCode(await cmdDown(ref)));
  program.command('cleanup')
    .description('remove labs left by crashed runs (owner process gone)')
    .option('--pattern <regex>', `prefix pattern (default ${defaultPrefixPattern.source})`)
    .action(async (o) => setCode(await cmdCleanup(o)));
  return program;
}

async function main(): Promise<void> {
  let code = 0;
  try {
    await buildProgram((c) => { code = c; }).parseAsync(process.argv);
  } catch (err) {
    process.stderr.write(`${isTernError(err) ? `${err.code}: ` : ''}${errorMessage(err)}\n`);
    code = 1;
  }
  process.exitCode = code;
}

await main();
