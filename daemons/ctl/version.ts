// ternctl version: Tern's version from package.json, Node's, and the host.
import os from 'node:os';
import type { CommandResult } from './context.js';
import { keyValues } from './format.js';
import { ternVersion } from '../lib/version.js';

export { ternVersion } from '../lib/version.js';

export interface VersionInfo {
  tern: string;
  node: string;
  platform: string;
  arch: string;
  kernel: string;
}

export function versionInfo(): VersionInfo {
  return { tern: ternVersion(), node: process.versions.node, platform: process.platform, arch: process.arch, kernel: os.release() };
}

export function versionCommand(): CommandResult {
  const v = versionInfo();
  return {
    data: v,
    text: keyValues([['tern', v.tern], ['node', v.node], ['platform', `${v.platform}/${v.arch}`], ['kernel', v.kernel]]),
  };
}
