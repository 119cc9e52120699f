// Test helpers of the config package: a small valid config whose lines the
// tests edit by number, and parseConfig's failure as data.
import { isTernError, type ErrorCode } from '../errors.js';
import type { ConfigIssue } from './issues.js';
import { parseConfig } from './load.js';

// A small valid config; the number after each line is its line number, which
// the cases below use to say where an error must be reported.
export const base = [
  'version: 1', //                                                       1
  'identity:', //                                                        2
  '  site: office', //                                                   3
  '  name: office-a', //                                                 4
  'wans:', //                                                            5
  '  - name: isp-a', //                                                  6
  '    interface: eth0', //                                              7
  '    address: 198.51.100.10/24', //                                    8
  '    gateway: 198.51.100.1', //                                        9
  '    upMbps: 50', //                                                  10
  '    downMbps: 250', //                                               11
  'lan:', //                                                            12
  '  interface: eth1', //                                               13
  '  address: 10.10.0.2/24', //                                         14
  '  prefixes: [10.10.0.0/24]', //                                      15
  'overlay:', //                                                        16
  '  address: 100.64.0.1/24', //                                        17
  '  sites:', //                                                        18
  '    - id: home', //                                                  19
  '      publicKey: yEmZ9YUSURDdEs5dQycM+X3KUk+KBvq6UFhiowFCTHU=', //   20
  '      overlayAddress: 100.64.0.2', //                                21
  '      lanPrefixes: [10.20.0.0/24]', //                               22
  '      wans:', //                                                     23
  '        - name: inet', //                                            24
  '          endpoint: home.example.net:51820', //                      25
  '    - id: cloud', //                                                 26
  '      publicKey: Qf10CYH3+JQXszhYsD0KNBGYJsUQ4NuCe6PBsI/tdk4=', //   27
  '      overlayAddress: 100.64.0.3', //                                28
  '      lanPrefixes: [10.30.0.0/16]', //                               29
  '      wans:', //                                                     30
  '        - name: inet', //                                            31
  '          endpoint: 203.0.113.30:51820', //                          32
  'remoteUsers:', //                                                    33
  '  - name: jane', //                                                  34
  '    publicKey: bu73hXWXtZZhKjLnZ9cYLzbfxjvHjD+tOEBRhGorqU0=', //     35
  '    address: 100.64.0.101/32', //                                    36
  '    allowedPrefixes: [10.10.0.0/24]', //                             37
  'pair:', //                                                           38
  '  vrid: 10', //                                                      39
  '  vips: [10.10.0.1/24]', //                                          40
  '  priority: 150', //                                                 41
  '  peerWans: [isp-b]', //                                             42
  '  track:', //                                                        43
  '    - wan: isp-a', //                                                44
  '      weight: 60', //                                                45
  'qos:', //                                                            46
  '  enabled: true', //                                                 47
  '  wans:', //                                                         48
  '    - wan: isp-a', //                                                49
  '      autorate: {enabled: true, minUpMbps: 20, maxUpMbps: 50, minDownMbps: 100, maxDownMbps: 250}', // 50
  'appClasses:', //                                                     51
  '  - name: voice', //                                                 52
  '    match: {protocols: [udp], ports: [5060, "10000-20000"]}', //     53
  '    sla: {maxLossPct: 1, maxLatencyMs: 150}', //                     54
  '    qosClass: realtime', //                                          55
  'policies:', //                                                       56
  '  - appClass: voice', //                                             57
  '    mode: best', //                                                  58
  '    preferWans: [isp-a, isp-b]', //                                  59
];

/**
 * The base with lines replaced: { 10: 'x' } puts x on line 10, an array puts
 * several lines there (later lines move down), [] deletes the line. Line
 * numbers refer to the base.
 */
export function edit(changes: Record<number, string | string[]> = {}, append: string[] = []): string {
  const lines: string[] = [];
  base.forEach((line, i) => {
    const change = changes[i + 1];
    if (change === undefined) lines.push(line);
    else lines.push(...(Array.isArray(change) ? change : [change]));
  });
  return [...lines, ...append].join('\n') + '\n';
}

/** Run parseConfig and return the error's code and issues (or why there was none). */
export function failure(text: string): { code: ErrorCode; issues: ConfigIssue[]; message: string } | string {
  try {
    parseConfig(text, 'tern.yaml');
    return 'it loaded';
  } catch (err) {
    if (!isTernError(err)) return `it threw ${String(err)}`;
    return { code: err.code, issues: (err.details?.errors ?? []) as ConfigIssue[], message: err.message };
  }
}

