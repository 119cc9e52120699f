// Turns the command table into a commander program and runs one command
// line: global options, --json envelopes, usage errors with hints, and the
// exit code. Everything a command prints goes through here.
import { Command, CommanderError, Option } from 'commander';
import { systemClock, type Clock } from '../lib/clock/index.js';
import { TernError, isTernError } from '../lib/errors.js';
import { resolvePaths } from '../lib/paths/index.js';
import type { CommandResult, CtlContext, Io } from './context.js';
import { Daemons } from '../lib/views/daemons.js';
import { exitCodeFor, exitCodes, usageError, type ExitCode } from './exit.js';
import { parseDuration } from './time.js';
import { commandGroups, commandTable, type CommandEntry } from './table.js';
import { ternVersion } from './version.js';

export interface CliOptions {
  /** The arguments after the program name. */
  args: string[];
  env?: NodeJS.ProcessEnv;
  io?: Io;
  clock?: Clock;
  /** How to start ternctl again (default: this node and this script). */
  self?: string[];
  /** Aborts long-running commands (default: SIGINT/SIGTERM of this process). */
  signal?: AbortSignal;
}

/** The default Io: the process's stdout/stderr/stdin. */
export function processIo(): Io {
  return {
    out: (t) => { process.stdout.write(t); },
    err: (t) => { process.stderr.write(t); },
    isTTY: process.stdout.isTTY === true,
    stdin: process.stdin,
    stdinIsTTY: process.stdin.isTTY === true,
  };
}

/** The --json document of a command that succeeded or failed; its shape is documented in docs/ternctl.md. */
export function envelope(command: string, result: { data: unknown } | { error: TernError | Error; exitCode: ExitCode }): Record<string, unknown> {
  if ('data' in result) return { ok: true, command, data: result.data };
  const e = result.error;
  return {
    ok: false,
    command,
    error: {
      code: isTernError(e) ? e.code : null,
      message: e.message,
      exitCode: result.exitCode,
      ...(isTernError(e) && e.details ? { details: e.details } : {}),
    },
  };
}

/** Options every command takes; also accepted before the command name. */
function addGlobalOptions(cmd: Command): Command {
  return cmd
    .option('--json', 'print one JSON document (shape: docs/ternctl.md)')
    .addOption(new Option('--timeout <duration>', 'how long to wait for each daemon answer').default('2s'))
    .option('--no-color', 'plain text even on a terminal');
}

/**
 * Build the program from the table. onRun receives the entry and commander's
 * action arguments; the caller runs it (so tests can build without running).
 */
export function buildProgram(onRun: (entry: CommandEntry, cmd: Command, args: unknown[]) => Promise<void>, write: { out(t: string): void; err(t: string): void }): Command {
  const program = addGlobalOptions(new Command('ternctl'))
    .description(`Tern ${ternVersion()}: the field engineer's view of this appliance — status, paths, loss reports, config with confirm-or-rollback, diagnostics`)
    .usage('<command> [options]')
    .showSuggestionAfterError(true)
    .showHelpAfterError('(run ternctl <command> --help for usage and examples)')
    .configureOutput({ writeOut: write.out, writeErr: write.err })
    .exitOverride();
  program.addHelpText('after', `\nExit codes: 0 ok, 1 failed, 2 usage error, 3 daemon not running/responding, 4 permission denied.\nEvery command takes --json. Docs: docs/ternctl.md`);
  const groups = new Map<string, Command>();
  for (const entry of commandTable) {
    const words = entry.name.split(' ');
    let parent = program;
    for (const word of words.slice(0, -1)) {
      let g = groups.get(word);
      if (!g) {
        g = parent.command(word).description(commandGroups[word] ?? '').usage('<command> [options]')
          .showSuggestionAfterError(true)
          .showHelpAfterError(`(run ternctl ${word} <command> --help for usage and examples)`)
          .configureOutput({ writeOut: write.out, writeErr: write.err })
          .exitOverride();
        groups.set(word, g);
      }
      parent = g;
    }
    const cmd = parent.command(words[words.length - 1]!, entry.hidden ? { hidden: true } : {})
      .description(entry.summary)
      .configureOutput({ writeOut: write.out, writeErr: write.err })
      .exitOverride();
    entry.define?.(cmd);
    addGlobalOptions(cmd);
    if (entry.examples.length) cmd.addHelpText('after', `\nExamples:\n${entry.examples.map((e) => `  ${e}`).join('\n')}`);
    cmd.action(async (...args: unknown[]) => onRun(entry, cmd, args));
  }
  return program;
}

/** Parse and run one command line; returns the exit code. Never throws. */
export async function runCli(opts: CliOptions): Promise<ExitCode> {
  const io = opts.io ?? processIo();
  const env = opts.env ?? process.env;
  const clock = opts.clock ?? systemClock;
  const wantJson = opts.args.includes('--json');
  let commandName = '';
  let exit: ExitCode = exitCodes.ok;
  let daemons: Daemons | undefined;
  // Commander's own messages (usage errors, help) are gathered so --json can carry them.
  let commanderErr = '';
  const write = { out: (t: string) => io.out(t), err: (t: string) => { commanderErr += t; } };

  const abort = new AbortController();
  let policy: NonNullable<CommandEntry['onSignal']> = 'exit';
  const onSignal = (sig?: NodeJS.Signals): void => {
    if (policy === 'exit' && sig) {
      process.exit(sig === 'SIGINT' ? 130 : 143);
    } else if (policy === 'finish' && sig) {
      io.err('ternctl: finishing the change under way; it stops in a moment\n');
    } else {
      abort.abort();
    }
  };
  if (!opts.signal) {
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  } else {
    opts.signal.addEventListener('abort', () => onSignal(), { once: true });
  }

  const fail = (err: unknown): void => {
    exit = exitCodeFor(err);
    const e = err instanceof Error ? err : new Error(String(err));
    if (wantJson) {
      io.out(`${JSON.stringify(envelope(commandName, { error: e, exitCode: exit }), null, 2)}\n`);
    } else {
      const msg = e.message.startsWith('ternctl') ? e.message : `ternctl: ${e.message}`;
      io.err(`${msg}${isTernError(e) && e.code !== 'TERN_E_CTL_USAGE' ? ` [${e.code}]` : ''}\n`);
    }
  };

  const program = buildProgram(async (entry, cmd, args) => {
    commandName = entry.name;
    policy = entry.onSignal ?? 'exit';
    const o = cmd.optsWithGlobals<Record<string, unknown>>();
    const timeoutMs = parseDuration(String(o.timeout ?? '2s'), '--timeout');
    if (timeoutMs <= 0) throw usageError('--timeout must be more than 0', 'e.g. --timeout 2s');
    const paths = resolvePaths({}, env);
    daemons = new Daemons({ paths, timeoutMs, clock });
    const ctx: CtlContext = {
      paths, env, clock, io, daemons, timeoutMs,
      json: o.json === true,
      color: o.color !== false && io.isTTY && !env.NO_COLOR,
      signal: abort.signal,
      self: opts.self ?? [process.execPath, process.argv[1] ?? 'ternctl'],
    };
    const positional = args.slice(0, cmd.registeredArguments.length) as string[];
    const result: CommandResult = await entry.run(ctx, positional, cmd.opts<Record<string, unknown>>(), cmd);
    exit = result.exitCode ?? exitCodes.ok;
    if (result.streamed) return;
    if (ctx.json) io.out(`${JSON.stringify(envelope(entry.name, { data: result.data }), null, 2)}\n`);
    else if (result.text !== '') io.out(result.text.endsWith('\n') ? result.text : `${result.text}\n`);
  }, write);

  try {
    await program.parseAsync(opts.args, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') {
        exit = exitCodes.ok;
      } else {
        // Usage: unknown command or option, missing argument, or a group
        // without its subcommand (commander.help, after printing help).
        const text = commanderErr.trim() || err.message;
        commanderErr = '';
        if (wantJson) fail(usageError(text.replace(/^error: /, '')));
        else { io.err(`${text}\n`); exit = exitCodes.usage; }
      }
    } else {
      fail(err);
    }
  } finally {
    if (commanderErr) io.err(commanderErr);
    await daemons?.close().catch(() => undefined);
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
  return exit;
}

