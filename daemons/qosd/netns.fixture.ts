// Run by shaper-netns.test.ts inside a throwaway namespace: capability
// detection and a Shaper on the real kernel there, driven by calls.
import { serveAgent } from '../lib/kernel/testing/netns-agent.js';
import { Rtnl, Tc } from '../lib/kernel/index.js';
import { KernelProber, detectCapabilities, type ShapingChoice } from './capabilities.js';
import { qosPlan } from './plan.js';
import { Shaper } from './shaper.js';
import { qosConfig } from './testkit.js';

const tc = new Tc();
const rtnl = new Rtnl();
const shaper = new Shaper({ tc, links: rtnl });
const planOf = (patch: Record<string, unknown>, choice: ShapingChoice) => qosPlan(qosConfig(patch), choice).wans[0]!;

serveAgent({
  qos: {
    detect: () => detectCapabilities(new KernelProber(tc, rtnl)),
    apply: (patch: Record<string, unknown>, choice: ShapingChoice) => shaper.apply(planOf(patch, choice)),
    remove: () => shaper.remove('isp', 'wan0', 'tqi-isp'),
  },
}, () => { tc.close(); rtnl.close(); });
