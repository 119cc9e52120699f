// What every ternctl command runs with: where the appliance's files are,
// how to reach its daemons, where output goes, and the clock.
import type { Clock } from '../lib/clock/index.js';
import type { RuntimePaths } from '../lib/paths/index.js';
import type { ExitCode } from './exit.js';
import type { Daemons } from '../lib/views/daemons.js';

/** Where output goes; tests capture it. */
export interface Io {
  out(text: string): void;
  err(text: string): void;
  /** stdout is a terminal: colours, --watch redraws. */
  isTTY: boolean;
  /** Standard input, for `logs` reading a pipe. */
  stdin: NodeJS.ReadableStream;
  stdinIsTTY: boolean;
}

export interface CtlContext {
  paths: RuntimePaths;
  env: NodeJS.ProcessEnv;
  clock: Clock;
  io: Io;
  /** --json: print one JSON document instead of text. */
  json: boolean;
  /** Colour the text output (a terminal, and NO_COLOR unset). */
  color: boolean;
  /** Per-request daemon timeout in ms (--timeout). */
  timeoutMs: number;
  daemons: Daemons;
  /** Aborted on SIGINT/SIGTERM: long-running commands (--watch, the rollback timer) stop. */
  signal: AbortSignal;
  /** How to start ternctl again (node and script), for the detached rollback timer. */
  self: string[];
}

/** What a command hands back: data for --json, text for people, and its exit code (default 0). */
export interface CommandResult {
  data: unknown;
  text: string;
  exitCode?: ExitCode;
  /** The command printed its own output as it ran (--watch, logs): print nothing more. */
  streamed?: boolean;
}
