// Package steerd steers each flow onto the path its app class needs: policy compiler, Rust selector wrapper, TypeScript reference.
export type {
  ClassMatch, ClassPolicy, ClassSteering, ClassStats, Decision, Flow, FlowTuple, Mode, Move, PathInput, PathSelector,
  PathState, PathStats, SelectorPolicy, SelectorStats, SlaPolicy,
} from './types.js';
export { compileMatch, compilePolicy, defaultFlowLimits, wanPaths, type PathMetrics } from './policy.js';
export { NativeSelector, type NativeSelectorOptions } from './native.js';
export { NO_PATH, ReferenceSelector } from './reference.js';
export { checkPaths, checkPolicy, type Checked } from './validate.js';
export {
  DECISION_SIZE, FLOW_RECORD_SIZE, KEY_SIZE, MOVE_SIZE, addressBytes, decodeFlow, encodeFlow, encodeFlows, makeFlow,
  readDecision, readTuple,
} from './wire.js';
