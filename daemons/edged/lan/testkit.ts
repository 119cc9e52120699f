// Test helpers of the lan package: a loaded config with LAN services, edited
// as an object, so the renderer's own guards are tested apart from the loader.
import { parseConfig } from '../../lib/config/index.js';
import type { TernConfig } from '../../lib/config/schema.js';

export function lanConfig(extra: { pair?: boolean; intercept?: boolean; dns?: boolean; dhcp?: boolean } = {}): TernConfig {
  const lines = [
    'version: 1',
    'identity: {site: office, name: office-a}',
    'wans:',
    '  - {name: isp-a, interface: eth0, address: 198.51.100.10/24, gateway: 198.51.100.1}',
    'lan:',
    '  interface: eth1',
    '  address: 10.10.0.2/24',
    '  prefixes: [10.10.0.0/24]',
  ];
  if (extra.dhcp !== false) {
    lines.push(
      '  dhcp:',
      '    ranges: [{start: 10.10.0.100, end: 10.10.0.199}, {start: 10.10.0.210, end: 10.10.0.219}]',
      '    leaseSec: 3600',
      '    staticLeases: [{mac: "52:54:00:AA:00:01", address: 10.10.0.50, hostname: printer}, {mac: "52:54:00:aa:00:02", address: 10.10.0.51}]',
      '    ntpServers: [10.10.0.5]',
      '    domain: office.example',
    );
  }
  if (extra.dns !== false) {
    lines.push(
      '  dns:',
      '    upstreams: [{address: 9.9.9.9}, {address: "2620:fe::fe", wan: isp-a}]',
      `    interceptPort53: ${extra.intercept === true}`,
      '    cacheSize: 2000',
      '    maxSetTtlSec: 600',
    );
  }
  lines.push('overlay: {address: 100.64.0.1/24, sites: []}');
  // lan.dhcp is refused with an enabled pair (config checks): tests that want one set enabled on the parsed config.
  if (extra.pair) lines.push('pair: {vrid: 10, vips: [10.10.0.1/24], priority: 150, enabled: false}');
  if (extra.dns !== false) {
    lines.push(
      'appClasses:',
      '  - name: chat-app',
      '    match: {protocols: [tcp, udp], domains: [slack.com, slack-edge.com]}',
      '  - name: docs',
      '    match: {protocols: [tcp], domains: [docs.example.test]}',
    );
  }
  return parseConfig(`${lines.join('\n')}\n`, 'tern.yaml').config;
}
