// The bus API every daemon serves through the runner (daemons/lib/runner):
// its status, a reload of tern.yaml, its health warnings.
import { Type } from '@sinclair/typebox';
import { defineContract } from './contract.js';
import { Open, Reply } from './schema.js';

export const HealthWarning = Reply({
  name: Type.String(),
  severity: Type.Union([Type.Literal('warning'), Type.Literal('error')]),
  text: Type.String(),
  since: Type.Number({ description: 'wall-clock ms when first raised' }),
}, { title: 'HealthWarning' });

const Overall = Type.Union([Type.Literal('ok'), Type.Literal('warning'), Type.Literal('error')]);

export const DaemonStatus = Reply({
  daemon: Type.String(),
  pid: Type.Integer(),
  startedAt: Type.Number({ description: 'wall-clock ms' }),
  uptimeMs: Type.Number(),
  configHash: Type.String({ description: 'hash of the tern.yaml in force' }),
  health: Overall,
  warnings: Type.Array(HealthWarning),
  bus: Open('the bus server\'s counters (docs/bus.md, Limits)'),
  memory: Reply({ rss: Type.Number(), reclaims: Type.Integer() }),
}, { title: 'DaemonStatus', description: 'the runner\'s fields, then the daemon\'s own (its status hook)' });

export const runnerApi = defineContract({
  daemon: 'runner',
  summary: 'Served by every daemon (the runner registers them).',
  methods: {
    'daemon.status': { summary: 'pid, uptime, config hash, health and bus counters, then the daemon\'s own status fields', result: DaemonStatus },
    'daemon.reload': {
      summary: 'read tern.yaml again and apply it; a bad config is refused and the old one kept',
      result: Reply({ configHash: Type.String() }),
    },
    'health.list': {
      summary: 'the daemon\'s health warnings',
      result: Reply({ overall: Overall, warnings: Type.Array(HealthWarning) }),
    },
  },
  topics: {
    'daemon.reloaded': { when: 'after a reload applied', payload: Reply({ daemon: Type.String(), configHash: Type.String() }) },
    'health.changed': {
      when: 'a health warning raised, changed or cleared',
      payload: Reply({ daemon: Type.String(), change: Reply({ kind: Type.Union([Type.Literal('set'), Type.Literal('clear')]), warning: HealthWarning }) }),
    },
  },
});
