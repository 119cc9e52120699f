import t from 'tap';
import { spawnSync } from 'node:child_process';
import { commandGroups, commandTable } from './table.js';
import { completionCommand } from './completion.js';
import { buildProgram } from './program.js';

const program = buildProgram(async () => undefined, { out: () => undefined, err: () => undefined });
const script = (await completionCommand('bash', program)).text;

/** What bash completes for the words typed so far (the last one is being typed). */
function complete(words: string[]): string[] {
  const prog = `${script}\nCOMP_WORDS=(${['ternctl', ...words].map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length}; _ternctl; printf '%s\\n' "\${COMPREPLY[@]}"`;
  const r = spawnSync('bash', ['-c', prog], { encoding: 'utf8', cwd: '/' });
  if (r.status !== 0) throw new Error(`bash: ${r.stderr}`);
  return r.stdout.split('\n').filter(Boolean).sort();
}

t.test('the script is valid bash and completes from the command table', async (t) => {
  const syntax = spawnSync('bash', ['-n'], { input: script, encoding: 'utf8' });
  t.equal(syntax.status, 0, syntax.stderr);
  const top = [...new Set(commandTable.filter((e) => !e.hidden).map((e) => e.name.split(' ')[0]!))].sort();
  t.same(complete(['']).filter((w) => !w.startsWith('-')), top, 'top level: every command and group');
  t.same(complete(['con']), ['config']);
  t.same(complete(['config', '']).filter((w) => !w.startsWith('-')), ['apply', 'confirm', 'diff', 'history', 'networkd', 'rollback', 'validate']);
  t.same(complete(['report', 'loss', '--re']), ['--resolution']);
  t.same(complete(['report', 'loss', '--resolution', '']), ['auto', 'hour', 'minute', 'raw'], 'choices of an option');
  t.same(complete(['logs', '--level', 'w']), ['warn']);
  t.ok(complete(['paths', '--site', 'office', '--']).includes('--watch'), 'option values are skipped when finding the command');
  t.notOk(complete(['config', 'apply', '--']).includes('--if-unconfirmed'), 'hidden options are not offered');
  t.ok(['--out', '--config', '--dry-run', '--reload'].every((o) => complete(['config', 'networkd', '--']).includes(o)), 'config networkd options');
  t.ok(Object.keys(commandGroups).every((g) => script.includes(`'${g}'`)), 'every group is in the script');
});
