// Package ctl is ternctl, the field engineer's CLI: it owns nothing, it reads the config, the state database and the daemons' answers.
export { runCli, buildProgram, envelope, processIo, type CliOptions } from './program.js';
export { commandTable, commandGroups, type CommandEntry } from './table.js';
export { exitCodes, exitCodeFor, usageError, type ExitCode } from './exit.js';
export { Daemons, knownDaemons, installedDaemons, livenessOf, type Liveness, type LivenessState, type DaemonName } from '../lib/views/daemons.js';
export type { CtlContext, CommandResult, Io } from './context.js';
export { parseDuration, parseTime, parseRange } from './time.js';
export { gatherStatus, renderStatus, statusExitCode, type StatusData } from './status.js';
export { ConfigApplier, ConfigHistory, writeFileAtomic, unifiedDiff } from './config/index.js';
export { lossReport, renderSvg, renderHtml, renderTerminal, svgHeight, svgWidth } from './report/index.js';
export { buildBundle, Redactor, knownSecrets, tar } from './diag/index.js';
export { bashCompletion } from './completion.js';
export { ternVersion } from './version.js';
