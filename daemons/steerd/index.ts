// Package steerd steers each flow onto the path its app class needs: the daemon (NFQUEUE fast path, conntrack marks, rules), policy compiler, Rust selector wrapper.
import { steerdSpec } from './daemon.js';

/** tern-steerd as main.ts runs it: the real fast path, kernel and bus. */
export const spec = steerdSpec();
