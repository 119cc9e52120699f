// What the config transaction runs with: the box's files, the environment
// and program for the rollback timer, the clock, and the daemons it
// reloads. ternctl's CtlContext is one.
import type { Clock } from '../../clock/index.js';
import type { RuntimePaths } from '../../paths/index.js';
import type { Daemons } from '../../views/daemons.js';

export interface TransactionContext {
  paths: RuntimePaths;
  env: NodeJS.ProcessEnv;
  clock: Clock;
  daemons: Daemons;
  /** How to start ternctl again (node and script), for the detached rollback timer. */
  self: string[];
}
