// ternctl's access to the state database: daemons/lib/store/state.ts, shared
// with the config transaction and the exporter.
export { ReadOnlyDb, openStateForWrite, readEvents, stateMigrations, type EventRow } from '../lib/store/state.js';
