/**
 * reembed/internals: the low-level pieces the facade is built from (stores, writers, workers,
 * the router, the lifecycle, fault injection, the demo). UNSTABLE: names and signatures change
 * without a major version. Some of these write vectors without the content-hash guard
 * (`writeVectors`) or change migration state without the facade's checks; prefer
 * `import { open } from 'reembed'`.
 */
export { ReembedError, ConfigError, ProfileGateError, IdentifierError, DatabaseError } from './errors.js';
export { loadManifest, buildManifest, getProfile, checkProfileEnvironment, type Manifest } from './config/manifest.js';
export { resolveProfile, activeProfileName, environmentName, type ProfileResolution } from './config/environment.js';
export { profileFingerprint } from './config/fingerprint.js';
export type { Profile, Metric, ProviderName } from './config/profile.js';
export type { Database, Queryable } from './db/database.js';
export { openDatabase, resolveDatabaseTarget } from './db/open.js';
export { runMigrations } from './db/migrations.js';
export { migrations } from './schema.js';
export type { Embedder, EmbedResult, EmbedPurpose } from './embedders/embedder.js';
export { createEmbedder } from './embedders/create.js';
export { upsertDocuments } from './source/managed.js';
export { ensureStore } from './store/store.js';
export { writeVectors } from './store/write.js';
export { searchExact, type SearchHit } from './store/search.js';
export { prepareBackfill, runBackfill, estimateBackfill } from './backfill/backfill.js';
export { Worker, runWorker, type WorkerOptions, type WorkerStats } from './backfill/worker.js';
export { setControl, readControl } from './backfill/control.js';
export { countCoverage, type Coverage } from './backfill/coverage.js';
export { listFailures, retryFailures, dropFailures } from './backfill/failures.js';
export { resolveSource, type Source } from './source/source.js';
export { installCapture, removeCapture, enqueue } from './source/capture.js';
export { writeIfCurrent } from './store/guarded-write.js';
export { verifyStore, type VerifyReport } from './store/verify.js';
export { buildIndex, indexStatus } from './store/index.js';
export { recallAtK, ndcgAtK, mrrAtK, summarize } from './eval/metrics.js';
export { generateDataset, type Dataset } from './eval/synthetic.js';
export { runDemo, type DemoResult } from './demo/demo.js';
export { registerProfileInfo, startupBanner } from './telemetry/profile-labels.js';
export { fanOut, PrometheusServingMetrics, type ServingObserver } from './telemetry/prometheus.js';
export {
  Router,
  type RouterOptions,
  type SearchRequest,
  type SearchResponse,
  type ShadowEvent,
} from './router/router.js';
export { inCanary, normalizedValue } from './router/bucket.js';
export { compareResults } from './router/compare.js';
export * as lifecycle from './migration/lifecycle.js';
export { backfillPlanner } from './backfill/planner.js';
export { candidateReadiness, type Readiness } from './backfill/readiness.js';
export { PHASES, type Phase } from './migration/phases.js';
export { loadDocuments } from './source/load.js';
export {
  containAtK,
  queryMetrics,
  evaluateRankings,
  overlapAtK,
  rankBiasedOverlap,
  RETRIEVAL_METRICS,
} from './eval/metrics.js';
export type { RetrievalMetrics, RetrievalSummary } from './eval/metrics.js';
export { readBeirDataset, DatasetError, type BeirDataset, type EvalQuery } from './eval/beir.js';
export {
  runEval,
  DEFAULT_EVAL_K,
  type EvalOptions,
  type EvalReport,
  type EvalRun,
  type ProfileEvaluation,
} from './eval/run.js';
export { compareProfiles, type ProfileComparison } from './eval/compare.js';
export { formatTrecRun, writeTrecRun, trecOrder, type Rankings } from './eval/trec.js';
export { appendHistory, historyEntry, DEFAULT_HISTORY_FILE, type HistoryEntry } from './eval/history.js';
export {
  checkAnn,
  agreementAtK,
  sampleQueries,
  DEFAULT_ANN_K,
  DEFAULT_ANN_QUERIES,
  DEFAULT_ANN_THRESHOLD,
  type AnnCheckOptions,
  type AnnCheckReport,
} from './eval/ann-check.js';
export {
  tuneIndex,
  chooseSearchValue,
  DEFAULT_TUNE_VALUES,
  DEFAULT_MAX_RECALL_LOSS,
  type TuneOptions,
  type TuneReport,
  type TuneRow,
  type TuneCriteria,
  type SearchValueChoice,
} from './eval/tune.js';
export { setProfileSetting, type ProfileSettingEdit } from './config/edit-profile.js';
export {
  parseRollout,
  DEFAULT_GATES,
  GATE_METRICS,
  type Gate,
  type GateMetric,
  type RolloutConfig,
} from './config/rollout.js';
export { Controller, type ControllerOptions, type TickReport } from './gates/controller.js';
export { ControllerStandby, currentLease, type LeaseHolder } from './gates/lease.js';
export {
  evaluateGate,
  standing,
  rollbackReason,
  type GateResult,
  type Measurement,
  type Verdict,
} from './gates/evaluate.js';
export { listTicks, listMeasurements, latestMeasurements, type Tick, type StoredMeasurement } from './gates/tables.js';
export {
  ServingMetricsRecorder,
  readServingMetrics,
  servingProfiles,
  type ServingSummary,
} from './telemetry/serving-metrics.js';
export {
  DEFAULT_SERVING_RETENTION_MS,
  pruneServingMetrics,
  startServingRetention,
  type PruneResult,
} from './telemetry/serving-retention.js';
export { injectFaults, type InjectedFaults } from './demo/fault-injection.js';
export { FacadeCore } from './facade/core.js';
export { registeredProfiles, capturingProfiles, registeredFingerprint } from './store/registry.js';
export { liveWorkers } from './backfill/control.js';
