// Package paird is tern-paird: two appliances on one LAN elect the gateway (VRRPv3), move the VIPs, track WAN health into the priority and offer each other's WANs.
import { pairdSpec } from './daemon.js';

export const spec = pairdSpec();
