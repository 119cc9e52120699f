// Package native loads Tern's Rust module (native/tern.node), typed by native/index.d.ts.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as nativeExports from '../../../native/index.js';
import { TernError, errorMessage } from '../errors.js';

/** What tern.node exports; declared by hand in native/index.d.ts. */
export type NativeModule = typeof nativeExports;

/**
 * Where tern.node sits when TERN_NATIVE_PATH is not set: <root>/native/tern.node,
 * with this file compiled to <root>/dist/daemons/lib/native/index.js. The
 * installed image keeps the same layout under its root (/usr/lib/tern).
 */
export const defaultNativePath = fileURLToPath(new URL('../../../../native/tern.node', import.meta.url));

/** The file loadNative opens: env TERN_NATIVE_PATH if set, else defaultNativePath. */
export function nativePath(env: NodeJS.ProcessEnv = process.env): string {
  const override = env.TERN_NATIVE_PATH;
  return override ? path.resolve(override) : defaultNativePath;
}

// createRequire because an ES module cannot import a .node file; the module
// is a CommonJS addon loaded through process.dlopen.
const requireAddon = createRequire(import.meta.url);

/**
 * Loads the native module at `file`, uncached. Throws TernError
 * TERN_E_NATIVE_LOAD when the file is missing, cannot be loaded (wrong
 * architecture, unresolved symbol) or is not Tern's module.
 */
export function openNative(file: string): NativeModule {
  const build = "expected tern.node built by 'npx napi build --cwd native --release' (or set TERN_NATIVE_PATH)";
  if (!existsSync(file)) {
    throw new TernError('TERN_E_NATIVE_LOAD', `native: load: ${file} does not exist; ${build}`, {
      details: { path: file },
    });
  }
  let loaded: unknown;
  try {
    loaded = requireAddon(file);
  } catch (err) {
    throw new TernError('TERN_E_NATIVE_LOAD', `native: load: ${file}: ${errorMessage(err)}; ${build}`, {
      cause: err,
      details: { path: file },
    });
  }
  // A module that loads but has no version() is some other addon (or a
  // pre-N-API build): refuse it here rather than fail later mid-operation.
  if (typeof loaded !== 'object' || loaded === null || typeof (loaded as { version?: unknown }).version !== 'function') {
    throw new TernError('TERN_E_NATIVE_LOAD', `native: load: ${file}: not Tern's native module (no version function); ${build}`, {
      details: { path: file },
    });
  }
  return loaded as NativeModule;
}

let cached: NativeModule | undefined;

/**
 * The native module at nativePath(), loaded once per process. A failed load
 * is not cached, so a later call tries again.
 */
export function loadNative(): NativeModule {
  cached ??= openNative(nativePath());
  return cached;
}
