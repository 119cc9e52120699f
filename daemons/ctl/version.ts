// ternctl version: Tern's version from package.json, Node's, and the host.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CommandResult } from './context.js';
import { keyValues } from './format.js';

let cached: string | undefined;

/** Tern's version, from the package.json at the repository (or install) root. */
export function ternVersion(): string {
  if (cached) return cached;
  // dist/daemons/ctl/version.js and daemons/ctl/version.ts both sit three or four levels below the root.
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const f = path.join(dir, 'package.json');
    if (fs.existsSync(f)) {
      const pkg = JSON.parse(fs.readFileSync(f, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'tern' && pkg.version) return (cached = pkg.version);
    }
    dir = path.dirname(dir);
  }
  return (cached = 'unknown');
}

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
