// steerd runs nft and iptables-nft through the shared runner (lib/kernel/nft).
export { commandTimeoutMs, runCommand, type CommandResult, type CommandRunner } from '../lib/kernel/nft/command.js';
