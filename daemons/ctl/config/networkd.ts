// `ternctl config networkd`: writes the networkd files rendered from
// tern.yaml (daemons/lib/networkd) into systemd's runtime directory. At boot
// tern-networkd.service runs it before networkd starts.
import path from 'node:path';
import { loadConfig } from '../../lib/config/index.js';
import { TernError, errorMessage } from '../../lib/errors.js';
import { defaultNetworkdRoot, reloadNetworkd, renderNetworkd, systemNetworkd, writeNetworkd, type NetworkdTarget } from '../../lib/networkd/index.js';
import type { CommandResult, CtlContext } from '../context.js';

/**
 * config networkd [--out DIR] [--config FILE] [--dry-run] [--reload]:
 * render the networkd files from the config and write them under DIR
 * (default /run/systemd); --dry-run prints them instead.
 */
export async function configNetworkd(ctx: CtlContext, opts: { out?: string; config?: string; dryRun?: boolean; reload?: boolean }, target: NetworkdTarget = systemNetworkd): Promise<CommandResult> {
  const root = path.resolve(opts.out ?? defaultNetworkdRoot);
  const loaded = await loadConfig(opts.config ?? ctx.paths.configFile);
  const files = renderNetworkd(loaded.config);
  if (opts.dryRun) {
    return {
      data: { root, config: loaded.file, dryRun: true, files: files.map((f) => ({ path: path.join(root, f.dir, f.name), text: f.text })) },
      text: files.map((f) => `# ${path.join(root, f.dir, f.name)}\n${f.text}`).join('\n'),
    };
  }
  const w = writeNetworkd(root, files);
  let reload: { result: 'reloaded' | 'not needed'; detail: string } | undefined;
  if (opts.reload) {
    if (w.changed) {
      let notes: string[];
      try {
        notes = await reloadNetworkd(w, target);
      } catch (err) {
        throw new TernError('TERN_E_CTL_APPLY', `ternctl: config networkd: files written, but ${errorMessage(err)}`, { cause: err, details: { ...w } });
      }
      reload = { result: 'reloaded', detail: ['networkctl reload', ...notes].join(', ') };
    } else {
      reload = { result: 'not needed', detail: 'nothing changed' };
    }
  }
  const lines = [
    ...w.files.map((f) => `${f.state === 'written' ? 'wrote    ' : 'unchanged'} ${f.path}`),
    ...w.removed.map((f) => `removed   ${f}`),
    ...(reload ? [`networkd: ${reload.result} (${reload.detail})`] : []),
  ];
  return { data: { ...w, config: loaded.file, dryRun: false, reload: reload ?? null }, text: lines.join('\n') };
}
