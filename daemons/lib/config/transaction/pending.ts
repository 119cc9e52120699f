// The way back from an apply not yet confirmed, kept beside the config file
// (tern.yaml.pending) so that a power cut can never leave the new tern.yaml
// in force with nothing to roll it back (issue #15). It is on disk (fsynced,
// with its directory) before the new tern.yaml is renamed in, and removed
// only after the state database has durably settled the version. It holds
// the previous text itself: the boot-time rollback does not need the
// database to restore it.
import fs from 'node:fs';
import path from 'node:path';
import { TernError, errorMessage, isPermissionError, permissionError } from '../../errors.js';
import { replaceFile } from './atomic.js';
import { sha256 } from './history.js';

export interface PendingRecord {
  /** The version applied and not confirmed yet. */
  id: number;
  /** The version it replaced, restored by a rollback. */
  previousId: number;
  /** sha256 of the applied text. */
  hash: string;
  /** The replaced text and its sha256 (checked on reading). */
  previousHash: string;
  previousText: string;
}

/** Where the pending record of configFile lives: beside it, so one directory fsync orders both. */
export const pendingRecordFile = (configFile: string): string => `${configFile}.pending`;

/** Write the record durably (temporary file, fsync, rename, fsync of the directory); 0600, root's only. */
export function writePendingRecord(configFile: string, rec: PendingRecord): void {
  const file = pendingRecordFile(configFile);
  try {
    replaceFile(file, `${JSON.stringify(rec)}\n`, { mode: 0o600 });
  } catch (err) {
    if (isPermissionError(err)) throw permissionError('write the pending-apply record', file, err);
    throw new TernError('TERN_E_CTL_APPLY', `ternctl: config apply: write ${file}: ${errorMessage(err)}; the running config is untouched`, { cause: err });
  }
}

/** The record, checked; undefined when there is none. A record that does not check out is an error, left in place. */
export function readPendingRecord(configFile: string): PendingRecord | undefined {
  const file = pendingRecordFile(configFile);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    if (isPermissionError(err)) throw permissionError('read the pending-apply record', file, err);
    throw new TernError('TERN_E_CTL_APPLY', `ternctl: config: read ${file}: ${errorMessage(err)}`, { cause: err });
  }
  const problem = checkRecord(text);
  if (typeof problem === 'string') {
    throw new TernError('TERN_E_CTL_APPLY', `ternctl: config: ${file}: ${problem}; want the record ternctl config apply writes `
      + '(JSON: id, previousId, hash, previousHash, previousText whose sha256 is previousHash). Nothing was changed; '
      + 'once tern.yaml is the config you want, remove the file', { details: { file } });
  }
  return problem;
}

/** Remove the record and make the removal durable; no record is fine. */
export function removePendingRecord(configFile: string): void {
  const file = pendingRecordFile(configFile);
  try {
    fs.unlinkSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    if (isPermissionError(err)) throw permissionError('remove the pending-apply record', file, err);
    throw new TernError('TERN_E_CTL_APPLY', `ternctl: config: remove ${file}: ${errorMessage(err)}`, { cause: err });
  }
  const dfd = fs.openSync(path.dirname(file), 'r');
  try { fs.fsyncSync(dfd); } finally { fs.closeSync(dfd); }
}

const isId = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) > 0;
const isHash = (v: unknown): v is string => typeof v === 'string' && /^[0-9a-f]{64}$/.test(v);

/** The record in text, or what is wrong with it. */
export function checkRecord(text: string): PendingRecord | string {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    return `not JSON (${errorMessage(err)})`;
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'not a JSON object';
  const r = v as Record<string, unknown>;
  if (!isId(r.id)) return `id is ${JSON.stringify(r.id)}, not a version number`;
  if (!isId(r.previousId)) return `previousId is ${JSON.stringify(r.previousId)}, not a version number`;
  if (!isHash(r.hash)) return 'hash is not a sha256 in hex';
  if (!isHash(r.previousHash)) return 'previousHash is not a sha256 in hex';
  if (typeof r.previousText !== 'string') return 'previousText is not a string';
  if (sha256(r.previousText) !== r.previousHash) return 'previousText does not match previousHash';
  return { id: r.id, previousId: r.previousId, hash: r.hash, previousHash: r.previousHash, previousText: r.previousText };
}
