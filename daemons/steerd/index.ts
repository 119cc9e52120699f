// Package steerd steers each flow onto the path its app class needs: the daemon (NFQUEUE fast path, conntrack marks, rules), policy compiler, Rust selector wrapper.
import { steerdSpec } from './daemon.js';

export type {
  ClassMatch, ClassPolicy, ClassSteering, ClassStats, Decision, Flow, FlowTuple, Mode, Move, PathInput, PathSelector,
  PathState, PathStats, SelectorPolicy, SelectorStats, SlaPolicy,
} from './types.js';
export { compileMatch, compilePolicy, defaultFlowLimits, wanPaths, type PathMetrics } from './policy.js';
export { NativeSelector, readMoves, type NativeSelectorOptions } from './native.js';
export { checkPaths, checkPolicy, type Checked } from './validate.js';
export {
  DECISION_SIZE, FLOW_RECORD_SIZE, KEY_SIZE, MOVE_SIZE, addressBytes, decodeFlow, encodeFlow, encodeFlows, makeFlow,
  readDecision, readTuple,
} from './wire.js';
export { Steerd, steerdSpec, uninstall, queueBase, queueCount, queueMaxLen, type PathRow, type SteerdDeps } from './daemon.js';
export {
  NativeFastPath, decodeCtFlows, encodeMoves, type CtFlow, type FastPath, type MarkReport, type QueueStats, type RefreshReport, type RefreshRequest,
  type RemarkReport, type SweepReport,
} from './fastpath.js';
export { MoveLog, type EventRow, type MoveLogOptions, type MoveReason, type PathMove } from './events.js';
export { classOf, topFlows, type FlowRow } from './flows.js';
export { IptablesQueue, iptChain, queueRule, restoreScript } from './iptables.js';
export {
  Nft, detectNftQueue, fingerprint, ingressInterfaces, parseNftState, pathMarkMask, pathMarkValue, queueFlagMark, renderRemoval, renderRuleset,
  steerChains, steerSets, type NftState, type QueueMethod, type SteerRuleset,
} from './nft.js';
export { ownedRule, reconcileRules, type PathRoute, type RuleKernel, type RulesReport } from './rules.js';
export {
  pairInterfaces, pairVirtualMacIfname, pathInput, probeView, siteInputs, sitePlans, steerPolicy,
  type ProbeView, type SitePlan, type SteerPath, type TunnelState,
} from './sites.js';
export { runCommand, type CommandResult, type CommandRunner } from './command.js';

/** tern-steerd as main.ts runs it: the real fast path, kernel and bus. */
export const spec = steerdSpec();
