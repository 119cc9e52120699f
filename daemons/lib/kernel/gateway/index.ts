// Package gateway reads a DHCP WAN's gateway from the kernel's default routes (checked, as outside input), for probed and tunneld alike.
export {
  GatewayRouteReads, MAIN_TABLE, defaultRoute, dhcpGateways, sameGateways,
  type RouteReader, type DefaultRoute, type DhcpWan, type GatewayReading, type GatewaySource,
} from './gateway.js';
