// probed's bus API: every path's and WAN's probing verdict and window
// figures (as methods, and as topics every round), transitions at once,
// the history behind the loss report, the reflector's counters.
import { Type } from '@sinclair/typebox';
import { defineContract } from './contract.js';
import { Count, Figure, Opt, Params, PathId, Reply, Verdict, WallMs } from './schema.js';


const echoCounts = {
  sent: Count(), sendErrors: Count(), answered: Count(), late: Count(), timeouts: Count(), duplicates: Count(),
  stale: Count('replies for probes no longer waited for, or never sent'), foreign: Count('replies that do not echo what was sent'),
};

export const SessionCounters = Reply({
  ...echoCounts, malformed: Count(), badProcessingTime: Count(), beforeFirstAnswer: Count('timed out before the first answer: no data, not loss'),
}, { title: 'SessionCounters', description: 'a path\'s STAMP session since it was made' });
export const PathSocketCounters = Reply({
  opens: Count(), openErrors: Count(), sendErrors: Count(), received: Count(), port: Type.Integer({ minimum: 0, maximum: 65535, description: '0 while not open' }),
}, { title: 'PathSocketCounters', description: 'a path\'s UDP socket' });
export const EchoCounters = Reply(echoCounts, { title: 'EchoCounters', description: 'a WAN target\'s ICMP echo session' });

/** The figures of one probing window, common to paths and WAN targets. */
const windowFields = {
  windowSec: Type.Number(),
  probes: Count('probes decided in the window (answered + lost)'),
  answered: Count(),
  lost: Count(),
  lostFwd: Count('lost on the way out'),
  lostRev: Count('lost on the way back'),
  lostUnknown: Count('lost, direction not known'),
  lossPct: Figure(),
  lossFwdPct: Figure(),
  lossRevPct: Figure(),
  rttMinMs: Figure(),
  rttMaxMs: Figure(),
  rttStddevMs: Figure(),
  jitterMs: Figure('RFC 3550 jitter after the latest reply'),
  mos: Figure('MOS estimate (E-model)'),
};

export const PathMetrics = Reply({
  path: PathId,
  site: Type.String(),
  localWan: Type.String(),
  remoteWan: Type.String(),
  state: Verdict,
  ts: WallMs('wall-clock ms of the snapshot'),
  ratePerSec: Type.Number(),
  ...windowFields,
  rttMs: Figure('average RTT of the window\'s answered probes'),
}, { title: 'PathMetrics', description: 'one path\'s verdict and window figures' });

export const PathState = Reply({
  path: PathId,
  site: Type.String(),
  localWan: Type.String(),
  remoteWan: Type.String(),
  from: Verdict,
  to: Verdict,
  cause: Type.String({ description: 'first-answer, consecutive-answered, consecutive-lost, thresholds, ...' }),
  reason: Type.String({ description: 'for people, with numbers: "3 consecutive probes lost"' }),
  ts: WallMs(),
  consecutiveLost: Count(),
  consecutiveAnswered: Count(),
  sentSinceReply: Count('probes sent since the last reply'),
}, { title: 'PathState', description: 'a path\'s verdict changed' });

export const WanTargetMetrics = Reply({
  target: Type.String(),
  state: Verdict,
  ...windowFields,
  rttMs: Figure('average RTT of the window\'s answered probes'),
  counters: EchoCounters,
}, { title: 'WanTargetMetrics' });

export const WanMetrics = Reply({
  wan: Type.String(),
  state: Verdict,
  ts: WallMs('wall-clock ms of the snapshot'),
  windowSec: Type.Number(),
  probes: Count(),
  lossPct: Figure(),
  rttMs: Figure('average RTT of the window\'s answered probes, as on path.metrics'),
  rttLatestMs: Figure('RTT of the latest round (what autorate reacts to); the window average when no reply came in it'),
  rttMinMs: Figure(),
  rttMaxMs: Figure(),
  rttBaselineMs: Opt(Type.Number({ description: 'lowest RTT of the last 10 minutes; absent until a reply came' })),
  jitterMs: Figure(),
  mos: Figure(),
  targets: Type.Array(WanTargetMetrics),
}, { title: 'WanMetrics', description: 'one WAN\'s verdict and figures' });

export const WanState = Reply({
  wan: Type.String(),
  target: Opt(Type.String({ description: 'set for a target\'s own transition' })),
  from: Verdict,
  to: Verdict,
  cause: Type.String({ description: 'as path.state; gateway when a DHCP WAN\'s gateway went away' }),
  reason: Type.String(),
  ts: WallMs(),
}, { title: 'WanState', description: 'a WAN\'s (or one of its targets\') verdict changed' });

const Resolution = Type.Union([Type.Literal('raw'), Type.Literal('minute'), Type.Literal('hour')]);

export const HistoryPoint = Reply({
  t: WallMs('start of the bucket'),
  sent: Count(),
  lost: Count(),
  lostFwd: Count(),
  lostRev: Count(),
  lossPct: Figure(),
  lossFwdPct: Figure(),
  lossRevPct: Figure(),
  rttAvgMs: Figure('average RTT of the bucket'),
  rttMinMs: Figure(),
  rttMaxMs: Figure(),
  rttStddevMs: Figure(),
  jitterMs: Figure(),
  jitterMaxMs: Figure(),
}, { title: 'HistoryPoint' });

export const probedApi = defineContract({
  daemon: 'probed',
  summary: 'Probing of every overlay path (STAMP) and WAN (ICMP): verdicts, window figures, history.',
  methods: {
    'paths.metrics': {
      summary: 'every path\'s current window (or one path\'s), with its session and socket counters',
      params: Type.Union([Params({ path: Opt(Type.String({ description: 'a path id; none: every path' })) }), Type.Undefined()]),
      result: Type.Array(Type.Intersect([PathMetrics, Reply({ counters: SessionCounters, socket: PathSocketCounters })])),
    },
    'wans.metrics': {
      summary: 'every WAN\'s figures (or one WAN\'s), per target too',
      params: Type.Union([Params({ wan: Opt(Type.String({ description: 'a WAN name; none: every WAN' })) }), Type.Undefined()]),
      result: Type.Array(WanMetrics),
    },
    'history.query': {
      summary: 'the loss report\'s numbers for one subject (path id, WAN, or wan@target) over [from, to)',
      params: Params({
        subject: Type.String({ minLength: 1, description: 'a path id, WAN name or wan@target' }),
        from: Type.Number({ minimum: 0, description: 'wall-clock ms, inclusive' }),
        to: Type.Number({ minimum: 0, description: 'wall-clock ms, exclusive' }),
        resolution: Opt(Type.Union([Type.Literal('auto'), Resolution])),
      }),
      result: Reply({ subject: Type.String(), resolution: Resolution, points: Type.Array(HistoryPoint), totals: HistoryPoint }),
    },
    'history.subjects': { summary: 'the subjects with history', result: Type.Array(Type.String()) },
    'reflector.stats': {
      summary: 'the reflector\'s counters (received, replied, malformed, rateLimited, foreign, ...) and table sizes',
      result: Type.Record(Type.String(), Type.Unknown()),
    },
  },
  topics: {
    'path.metrics': { when: 'every round (1 / pathRatePerSec), per path that decided a probe in it', payload: PathMetrics },
    'path.state': { when: 'at once, on every transition of a path\'s verdict', payload: PathState },
    'wan.metrics': { when: 'every WAN round (1 / its rate), while the WAN has figures', payload: WanMetrics },
    'wan.state': { when: 'at once, for the WAN and for each of its targets', payload: WanState },
  },
});
