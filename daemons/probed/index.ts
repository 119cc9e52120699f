// Package probed measures WAN and overlay-path health: STAMP probes and reflector, loss per direction, RTT, jitter, MOS, up/degraded/down state and history.
import { probedSpec } from './daemon.js';

/** tern-probed as main.ts runs it: the real sockets, kernel and bus. */
export const spec = probedSpec();
