// The command table: one entry per ternctl command — name, one-line help,
// examples, its arguments and options, its handler. The program, --help,
// bash completion and docs/ternctl.md all follow from this list.
import { Option, type Command } from 'commander';
import { completionCommand, programOf } from './completion.js';
import { configApply, configConfirm, configDiff, configHistory, configNetworkd, configRollback, configValidate, defaultConfirmWithin } from './config/index.js';
import type { CommandResult, CtlContext } from './context.js';
import { diagCommand } from './diag/index.js';
import { flowsCommand } from './flows.js';
import { internetCommand } from './internet.js';
import { logsCommand } from './logs.js';
import { pairCommand } from './pair.js';
import { pathsCommand, tunnelsCommand } from './paths.js';
import { qosCommand } from './qos.js';
import { domainsCommand, firewallCommand, leasesCommand, natCommand } from './edge.js';
import { raAdd, raList, raRekey, raRevoke, raShow } from './ra.js';
import { reportLossCommand } from './report/index.js';
import { statusCommand } from './status.js';
import { versionCommand } from './version.js';
import { runningConfig } from './views.js';

export interface CommandEntry {
  /** Words as typed: 'status', 'config apply'. */
  name: string;
  /** One line for --help and completion. */
  summary: string;
  /** Full command lines, shown under --help. */
  examples: string[];
  /** Arguments and options (commander); --json, --timeout and --no-color are added to every command. */
  define?(cmd: Command): void;
  /** cmd: the command as commander parsed it (its root is the whole program, for completion). */
  run(ctx: CtlContext, args: string[], opts: Record<string, unknown>, cmd: Command): Promise<CommandResult>;
  hidden?: boolean;
  /**
   * What Ctrl-C (SIGINT) and SIGTERM do: 'exit' at once (default: reading
   * commands), 'abort' ctx.signal so the command ends cleanly (--watch,
   * the rollback timer), 'finish' the change under way first
   * (apply, confirm, rollback, ra): stopping half-way would leave a change
   * without its rollback timer.
   */
  onSignal?: 'exit' | 'abort' | 'finish';
}

/** The one-line help of command groups. */
export const commandGroups: Record<string, string> = {
  config: 'validate, diff, apply (rolls back unless confirmed), confirm, rollback, history of tern.yaml; networkd files of its addressing',
  ra: 'remote-access users: add (config file and QR, once), list, show, rekey, revoke',
  report: 'reports to hand to a customer or an ISP',
};

const collect = (v: string, prev: string[] = []): string[] => [...prev, v];
const s = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

export const commandTable: CommandEntry[] = [
  {
    name: 'status',
    summary: 'the whole appliance on one screen: identity, WANs, paths, PAIR, QoS, warnings, daemons',
    examples: ['ternctl status', 'ternctl status --json | jq .data.paths'],
    run: (ctx) => statusCommand(ctx),
  },
  {
    name: 'paths',
    onSignal: 'abort',
    summary: 'every overlay path: tunnel and probe state, loss, RTT, jitter, MOS, traffic',
    examples: ['ternctl paths', 'ternctl paths --site cloud', 'ternctl paths --watch --interval 1s'],
    define: (c) => c
      .option('--site <site>', 'only the paths to this site')
      .option('-w, --watch', 'redraw until Ctrl-C')
      .option('--interval <duration>', 'with --watch: time between redraws', '2s')
      .option('--count <n>', 'with --watch: stop after n redraws'),
    run: (ctx, _a, o) => pathsCommand(ctx, { site: s(o.site), watch: o.watch === true, interval: s(o.interval), count: s(o.count) }),
  },
  {
    name: 'tunnels',
    summary: 'the WireGuard interfaces behind the paths, with peers, handshakes and counters',
    examples: ['ternctl tunnels'],
    run: (ctx) => tunnelsCommand(ctx),
  },
  {
    name: 'flows',
    summary: 'the top flows with their app class and path (from steerd)',
    examples: ['ternctl flows', 'ternctl flows --limit 50 --class voice'],
    define: (c) => c.option('--limit <n>', 'how many', '20').option('--path <path>', 'only flows on this path').option('--class <appClass>', 'only this app class'),
    run: (ctx, _a, o) => flowsCommand(ctx, { limit: s(o.limit), path: s(o.path), class: s(o.class) }),
  },
  {
    name: 'internet',
    summary: 'internet breakout: each WAN\'s state and failback hold, flows and bytes per app class, NATed flows, last clears (from steerd)',
    examples: ['ternctl internet', 'ternctl internet --json | jq .data.classes'],
    run: (ctx) => internetCommand(ctx),
  },
  {
    name: 'pair',
    summary: 'the PAIR election: role, priority and why, VIPs (from paird)',
    examples: ['ternctl pair'],
    run: (ctx) => pairCommand(ctx),
  },
  {
    name: 'qos',
    summary: 'shaping per WAN: configured rates and what runs now',
    examples: ['ternctl qos'],
    run: async (ctx) => qosCommand(ctx, (await runningConfig(ctx)).loaded?.config),
  },
  {
    name: 'firewall',
    summary: 'the zone firewall: ruleset state and counters — drops by zone and reason, anti-spoofing per WAN, port forwards (from edged)',
    examples: ['ternctl firewall', 'ternctl firewall --json'],
    run: (ctx) => firewallCommand(ctx),
  },
  {
    name: 'nat',
    summary: 'NAT sessions per WAN, from conntrack (from edged)',
    examples: ['ternctl nat', 'ternctl nat --json'],
    run: (ctx) => natCommand(ctx),
  },
  {
    name: 'leases',
    summary: 'the LAN\'s DHCP leases, and whether dnsmasq runs (from edged)',
    examples: ['ternctl leases', 'ternctl leases --json'],
    run: (ctx) => leasesCommand(ctx),
  },
  {
    name: 'domains',
    summary: 'the addresses learned from DNS answers per domain app class, with the time each has left (from edged)',
    examples: ['ternctl domains', 'ternctl domains --json'],
    run: (ctx) => domainsCommand(ctx),
  },
  {
    name: 'report loss',
    summary: 'packet loss per path over a time range: terminal chart, --svg/--html files for an ISP ticket',
    examples: [
      'ternctl report loss --site cloud --from 24h --to now',
      'ternctl report loss --site cloud --from 2025-11-26T08:00 --to 2025-11-26T12:00 --svg loss.svg --html loss.html',
      'ternctl report loss --path ispa/cloud/ispc --from 1h',
      'ternctl report loss --wan ispa --from 7d --resolution hour',
    ],
    define: (c) => c
      .option('--site <site>', 'every path to this site')
      .option('--path <path>', 'one path (localWan/site/remoteWan); repeatable', collect)
      .option('--wan <wan>', 'a WAN (its probe targets); repeatable', collect)
      .option('--from <time>', 'start: a duration ago (24h), an ISO time, or now', '24h')
      .option('--to <time>', 'end', 'now')
      .addOption(new Option('--resolution <res>', 'bucket size (auto picks by range)').choices(['auto', 'raw', 'minute', 'hour']).default('auto'))
      .option('--svg <file>', 'write the chart as SVG')
      .option('--html <file>', 'write a self-contained HTML page (chart, totals, events)')
      .option('--title <text>', 'chart title (default names the site and range)'),
    run: (ctx, _a, o) => reportLossCommand(ctx, {
      site: s(o.site), paths: (o.path as string[] | undefined) ?? [], wans: (o.wan as string[] | undefined) ?? [],
      from: s(o.from)!, to: s(o.to)!, resolution: s(o.resolution) as 'auto', svg: s(o.svg), html: s(o.html), title: s(o.title),
    }),
  },
  {
    name: 'ra add',
    onSignal: 'finish',
    summary: 'add a remote-access user: key pair, config entry, and the client config with QR (shown once: the box keeps no client private key)',
    examples: [
      'ternctl ra add alice',
      'ternctl ra add alice --address 100.64.0.101/32 --allow 10.1.0.0/24 --allow 10.3.0.0/24 --out alice.conf',
      'ternctl ra add alice --public-key <key from the other PAIR box> --address 100.64.0.101/32',
    ],
    define: (c) => c
      .argument('<name>', 'user name')
      .option('--address <prefix>', 'tunnel address, /32 or /128 (default: the first free one from .100 of the overlay network)')
      .option('--allow <prefix>', 'a prefix the user may reach; repeatable (default: every LAN)', collect)
      .option('--dns <address>', 'DNS server for the client; repeatable', collect)
      .option('--public-key <key>', 'the user brings a key (or it comes from the other PAIR box): no client config is issued here')
      .option('--out <file>', 'also write the client config here (mode 600)')
      .option('--no-qr', 'no QR code')
      .option('--confirm-within <duration>', 'roll back unless confirmed in this time (default: confirmed at once)'),
    run: (ctx, a, o) => raAdd(ctx, a[0]!, {
      address: s(o.address), allow: o.allow as string[] | undefined, dns: o.dns as string[] | undefined,
      publicKey: s(o.publicKey), out: s(o.out), qr: o.qr !== false, confirmWithin: s(o.confirmWithin),
    }),
  },
  {
    name: 'ra list',
    summary: 'remote-access users and their state',
    examples: ['ternctl ra list'],
    run: (ctx) => raList(ctx),
  },
  {
    name: 'ra show',
    summary: "a user's client config (wg-quick) without the private key, which the box does not keep",
    examples: ['ternctl ra show alice', 'ternctl ra show alice --out alice.conf'],
    define: (c) => c.argument('<name>', 'user name').option('--out <file>', 'write the client config here (mode 600)'),
    run: (ctx, a, o) => raShow(ctx, a[0]!, { out: s(o.out) }),
  },
  {
    name: 'ra rekey',
    onSignal: 'finish',
    summary: 'a new key pair for a user who lost theirs: the old key stops working; the new config and QR are shown once',
    examples: ['ternctl ra rekey alice', 'ternctl ra rekey alice --out alice.conf', 'ternctl ra rekey alice --public-key <key from the other PAIR box>'],
    define: (c) => c
      .argument('<name>', 'user name')
      .option('--public-key <key>', 'the user brings a key (or it comes from the other PAIR box): no client config is issued here')
      .option('--out <file>', 'also write the client config here (mode 600)')
      .option('--no-qr', 'no QR code')
      .option('--confirm-within <duration>', 'roll back unless confirmed in this time (default: confirmed at once)'),
    run: (ctx, a, o) => raRekey(ctx, a[0]!, { publicKey: s(o.publicKey), out: s(o.out), qr: o.qr !== false, confirmWithin: s(o.confirmWithin) }),
  },
  {
    name: 'ra revoke',
    onSignal: 'finish',
    summary: 'revoke a user: it cannot connect any more; its name and address stay reserved',
    examples: ['ternctl ra revoke alice'],
    define: (c) => c.argument('<name>', 'user name').option('--confirm-within <duration>', 'roll back unless confirmed in this time (default: confirmed at once)'),
    run: (ctx, a, o) => raRevoke(ctx, a[0]!, { confirmWithin: s(o.confirmWithin) }),
  },
  {
    name: 'config validate',
    summary: 'check a config file (default: the running one); errors name key path and line',
    examples: ['ternctl config validate', 'ternctl config validate new.yaml'],
    define: (c) => c.argument('[file]', 'the file to check'),
    run: async (ctx, a) => configValidate(ctx, a[0]),
  },
  {
    name: 'config diff',
    summary: 'what a file (or an earlier version) changes against the running config; exit 1 when they differ',
    examples: ['ternctl config diff new.yaml', 'ternctl config diff --version 3'],
    define: (c) => c.argument('[file]', 'the file to compare').option('--version <id>', 'compare a version from the history instead'),
    run: (ctx, a, o) => configDiff(ctx, a[0], { version: s(o.version) }),
  },
  {
    name: 'config apply',
    onSignal: 'finish',
    summary: `validate and apply a config, reload the daemons, roll back unless confirmed (default within ${defaultConfirmWithin})`,
    examples: ['ternctl config apply new.yaml', 'ternctl config apply new.yaml --confirm-within 5m', 'ternctl config apply new.yaml --confirm-within 0   # confirmed at once'],
    define: (c) => c.argument('<file>', 'the new tern.yaml').option('--confirm-within <duration>', 'time to run ternctl config confirm; 0 confirms at once', defaultConfirmWithin),
    run: (ctx, a, o) => configApply(ctx, a[0]!, { confirmWithin: s(o.confirmWithin) }),
  },
  {
    name: 'config confirm',
    onSignal: 'finish',
    summary: 'keep the pending apply (stops its rollback timer)',
    examples: ['ternctl config confirm'],
    run: (ctx) => configConfirm(ctx),
  },
  {
    name: 'config rollback',
    // The timer's wait ends on SIGTERM (a confirm stops it); a rollback under way runs to its end.
    onSignal: 'abort',
    summary: 'roll the pending apply back now, or re-apply an earlier version with --to',
    examples: ['ternctl config rollback', 'ternctl config rollback --to 3', 'ternctl config rollback --if-pending   # at boot'],
    define: (c) => c
      .option('--to <id>', 'apply this earlier version (from config history), pending like any apply')
      .option('--confirm-within <duration>', 'with --to: time to confirm', defaultConfirmWithin)
      .option('--if-pending', 'no error when nothing is pending (boot-time use)')
      .addOption(new Option('--if-unconfirmed <id>', 'the rollback timer: roll back only if this version is still pending').hideHelp())
      .addOption(new Option('--at <ms>', 'the rollback timer: wait until this wall-clock time (ms)').hideHelp()),
    run: (ctx, _a, o) => configRollback(ctx, { to: s(o.to), ifUnconfirmed: s(o.ifUnconfirmed), at: s(o.at), ifPending: o.ifPending === true, confirmWithin: s(o.confirmWithin) }),
  },
  {
    name: 'config history',
    summary: 'the versions applied, newest first, and the pending one',
    examples: ['ternctl config history', 'ternctl config history --show 3 > v3.yaml'],
    define: (c) => c.option('--show <id>', 'print the text of one version').option('--limit <n>', 'how many versions', '20'),
    run: (ctx, _a, o) => configHistory(ctx, { show: s(o.show), limit: s(o.limit) }),
  },
  {
    name: 'config networkd',
    summary: "write systemd-networkd files for the box's own addressing (wans, lan) from the config; run at boot before networkd",
    examples: [
      'ternctl config networkd                       # at boot: /run/systemd/network/NN-tern-*.network',
      'ternctl config networkd --dry-run',
      'ternctl config networkd --config new.yaml --out /tmp/nd --dry-run',
      'ternctl config networkd --reload              # after a hand edit of tern.yaml',
    ],
    define: (c) => c
      .option('--out <dir>', 'systemd runtime directory: files go to DIR/network and DIR/networkd.conf.d', '/run/systemd')
      .option('--config <file>', 'render this file instead of the running config')
      .option('--dry-run', 'print the files; write nothing')
      .option('--reload', 'networkctl reload when a file changed'),
    run: (ctx, _a, o) => configNetworkd(ctx, { out: s(o.out), config: s(o.config), dryRun: o.dryRun === true, reload: o.reload === true }),
  },
  {
    name: 'logs',
    summary: 'the daemons\' logs, pretty: from journald, a file, a directory or stdin; filter by daemon and level',
    examples: ['ternctl logs', 'ternctl logs --daemon tunneld --level warn --since 1h', 'journalctl -o cat -u tern-probed | ternctl logs', 'ternctl logs --file /var/log/tern/tunneld.log -n 50'],
    define: (c) => c
      .option('--daemon <name>', 'only this daemon; repeatable', collect)
      .addOption(new Option('--level <level>', 'lowest level shown').choices(['trace', 'debug', 'info', 'warn', 'error', 'fatal']).default('info'))
      .option('--since <time>', 'only lines after this (e.g. 1h, 2025-11-26T08:00)')
      .option('-n, --lines <n>', 'the last n lines (after filtering)', '200')
      .option('--file <file>', 'read this file; repeatable', collect)
      .option('--dir <dir>', 'read every *.log file here (env TERN_LOG_DIR)')
      .option('--grep <text>', 'only lines whose message contains this'),
    run: (ctx, _a, o) => logsCommand(ctx, {
      daemons: (o.daemon as string[] | undefined) ?? [], level: s(o.level)!, since: s(o.since), lines: s(o.lines)!,
      files: (o.file as string[] | undefined) ?? [], dir: s(o.dir), grep: s(o.grep),
    }),
  },
  {
    name: 'diag',
    summary: 'a diagnostics bundle (tar.gz): config, state, logs, metrics, host facts, ip/wg/nft output; secrets redacted',
    examples: ['ternctl diag', 'ternctl diag --out /tmp/office1-diag.tar.gz --since 6h'],
    define: (c) => c
      .option('--out <file>', 'where to write it (default ./tern-diag-<name>-<time>.tar.gz)')
      .option('--since <time>', 'logs and events from this time', '24h')
      .option('--log-dir <dir>', 'read logs from *.log files here instead of journald (env TERN_LOG_DIR)'),
    run: (ctx, _a, o) => diagCommand(ctx, { out: s(o.out), since: s(o.since)!, logDir: s(o.logDir) }),
  },
  {
    name: 'completion',
    summary: 'print a bash completion script: source <(ternctl completion bash)',
    examples: ['source <(ternctl completion bash)', 'ternctl completion bash > /etc/bash_completion.d/ternctl'],
    define: (c) => c.argument('<shell>', 'the shell: bash'),
    run: (_ctx, a, _o, cmd) => completionCommand(a[0]!, programOf(cmd)),
  },
  {
    name: 'version',
    summary: 'Tern, Node and kernel versions',
    examples: ['ternctl version'],
    run: async () => versionCommand(),
  },
];
