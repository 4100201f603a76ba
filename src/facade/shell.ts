/**
 * What the shells (CLI, HTTP server) need to parse options and format reports, so that they
 * import the facade and nothing below it.
 *
 * Light on purpose: every module it imports imports no package and little else, so a shell can
 * build its commands and print --help from here without loading the facade (the database
 * drivers, the providers, the manifest schema); it loads `reembed.js` when a command runs.
 */
import { migrations } from '../schema.js';

export { parseDuration, formatDuration } from '../config/duration.js';
export { DEFAULT_CONFIG_FILE } from '../config/defaults.js';
export { DEFAULT_HISTORY_FILE } from '../eval/history.js';
export {
  DEFAULT_ANN_K,
  DEFAULT_ANN_QUERIES,
  DEFAULT_ANN_SEED,
  DEFAULT_ANN_THRESHOLD,
  DEFAULT_MAX_RECALL_LOSS,
  DEFAULT_TUNE_QUERIES,
  DEFAULT_TUNE_PROBES,
  DEFAULT_TUNE_VALUES,
} from '../eval/defaults.js';
export { LOAD_FORMATS, DEFAULT_LOAD_BATCH_SIZE, type LoadFormat } from '../source/document-shapes.js';
export { endedEarly, PHASES, servingPercent } from '../migration/phases.js';
export { ControllerStandby } from '../gates/lease.js';
export type { RolloutConfig } from '../config/rollout.js';
export type { ProfileSettingEdit } from '../config/edit-profile.js';
export type { TickReport } from '../gates/controller.js';
export type { GateResult } from '../gates/evaluate.js';
export type { IndexStatus, IndexReport } from '../store/index.js';
export type { ListImbalance } from '../store/index-ivfflat.js';
export type { EvalReport } from '../eval/run.js';
export type { TuneReport } from '../eval/tune.js';
export { MAX_K } from '../router/request.js';
/** The version of the reembed schema this build expects (a readiness check compares the database's). */
export const SCHEMA_VERSION = Math.max(...migrations.map((m) => m.version));
