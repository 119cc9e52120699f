// ternctl's access to the state database: daemons/lib/store/state.ts, shared
// with the config transaction and the exporter; events are lib/events'.
export { ReadOnlyDb, openStateForWrite, stateMigrations } from '../lib/store/state.js';
