// Package qosd shapes every WAN, egress and ingress (through an IFB), with DSCP classes, and follows the link's real rate from the latency probed measures under load (autorate).
import { qosdSpec } from './daemon.js';

export const spec = qosdSpec();
