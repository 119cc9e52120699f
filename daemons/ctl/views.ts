// What ternctl shows, gathered from whichever daemons answer: daemons/lib/views,
// shared with the exporter and ternctl diag's metrics.
export * from '../lib/views/index.js';
