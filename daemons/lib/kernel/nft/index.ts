// Package nft runs the nft command line for the daemons that own chains in
// `inet tern` (steerd, edged): argv only, input on stdin, bounded in time.
export { commandTimeoutMs, runCommand, type CommandResult, type CommandRunner } from './command.js';
