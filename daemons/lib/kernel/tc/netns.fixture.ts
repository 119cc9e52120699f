// Run by tc-netns.test.ts inside a throwaway namespace: serves calls on a
// Tc client and an Rtnl client made there.
import { Rtnl } from '../rtnl/rtnl.js';
import { serveAgent } from '../testing/netns-agent.js';
import { Tc } from './tc.js';

const tc = new Tc();
const rtnl = new Rtnl();
serveAgent({ tc, rtnl }, () => { tc.close(); rtnl.close(); });
