// Replacing /etc/tern/tern.yaml so that a reader (a daemon reloading, a
// power cut) sees the old file or the new one, never half of either.
import { replaceFile } from '../../files/index.js';
import { TernError, errorMessage, isPermissionError, permissionError } from '../../errors.js';

export { replaceFile };

/** Write the config file atomically (replaceFile), keeping its mode and owner. */
export function writeFileAtomic(file: string, text: string): void {
  try {
    replaceFile(file, text);
  } catch (err) {
    if (isPermissionError(err)) throw permissionError('write config', file, err);
    throw new TernError('TERN_E_CTL_APPLY', `ternctl: config: write ${file}: ${errorMessage(err)}; the running config is untouched`, { cause: err });
  }
}
