// Package edged makes the box the site's internet gateway: zone firewall, anti-spoofing, NAT per WAN and port forwards in nftables inet tern, and the LAN services (daemons/edged/lan).
import { edgedSpec } from './daemon.js';

/** tern-edged as main.ts runs it: the real nft and bus. */
export const spec = edgedSpec();
