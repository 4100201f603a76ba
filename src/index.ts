/**
 * The public library API: `open()` and the `Reembed` facade (everything the CLI does), its
 * report types, manifest loading and validation, and the typed errors. Nothing exported here
 * writes a vector without the content-hash guard. Low-level pieces live in `reembed/internals`
 * (unstable).
 */
export { open } from './reembed.js';
export type {
  OpenOptions,
  Reembed,
  ActiveProfile,
  ReembedSearchRequest,
  FailuresReport,
  StatusReport,
  StatusOptions,
  ProfileStatus,
  JitSummary,
  LiveWorker,
  GoneWorker,
  BackfillPlanReport,
  BackfillRunReport,
  BackfillRunOptions,
  BackfillControlReport,
  BackfillStatusReport,
  RowFilterInput,
  WorkOptions,
  MigrationTarget,
  MigrationTargetInput,
  MigrationStatusReport,
  MigrationHistoryReport,
  BucketReport,
  ProfileCheckReport,
  ProfileMatrixRow,
  EmbedReport,
  LoadReport,
  LoadOptions,
  DurationInput,
  MetricsReport,
  PruneReport,
  DetachReport,
  AnnOutcome,
  VerifyOptions,
  VerifyReport,
  VerifyWithAnnReport,
  TuneResult,
  TuneRunOptions,
  EvalResult,
  EvalRunOptions,
  Failure,
  Coverage,
  BackfillEstimate,
  WorkerStats,
  MigrationState,
  MigrationEvent,
  SearchResponse,
  FallbackReason,
  DocumentInput,
  RerankStatusReport,
  RerankTrainOptions,
  RerankTrainReport,
} from './reembed.js';
export type { RerankSettings } from './config/rerank.js';
export type { RerankEvaluation } from './eval/report.js';
export type { SearchHit } from './store/search.js';
export type { IndexStatus, IndexReport, BuildIndexResult } from './store/index.js';
export type { ListImbalance } from './store/index-ivfflat.js';
export type { AnnCheckReport } from './eval/ann-check.js';
export type { TuneReport, TuneRow } from './eval/tune.js';
export type { EvalReport, ProfileEvaluation } from './eval/run.js';
export type { LoadResult } from './source/load.js';
export type { ServingSummary } from './telemetry/serving-metrics.js';
export type { PlanResult } from './migration/lifecycle.js';
export type { Controller, ControllerOptions, TickReport } from './gates/controller.js';
export type { GateResult, Verdict } from './gates/evaluate.js';
export type { Tick, StoredMeasurement } from './gates/tables.js';
export type { LeaseHolder } from './gates/lease.js';
export type { ControlState } from './backfill/control.js';
export { PHASES, type Phase } from './migration/phases.js';

// Configuration: loading, validation, the environment's profile gate.
export {
  loadManifest,
  buildManifest,
  getProfile,
  checkProfileEnvironment,
  DEFAULT_CONFIG_FILE,
  type Manifest,
} from './config/manifest.js';
export { resolveProfile, activeProfileName, environmentName, type ProfileResolution } from './config/environment.js';
export { profileFingerprint } from './config/fingerprint.js';
export {
  parseRollout,
  DEFAULT_GATES,
  GATE_METRICS,
  type Gate,
  type GateMetric,
  type RolloutConfig,
} from './config/rollout.js';
export { parseDuration, formatDuration } from './config/duration.js';
export type { Profile, Metric, ProviderName } from './config/profile.js';

// Errors: every one reembed raises on purpose is a ReembedError with a stable code.
export {
  ReembedError,
  ConfigError,
  ProfileGateError,
  IdentifierError,
  DatabaseError,
  REEMBED_ERROR_CODES,
  type ReembedErrorCode,
} from './errors.js';
export {
  EmbedderError,
  RateLimitedError,
  ProviderUnavailableError,
  ProviderTimeoutError,
  InvalidResponseError,
  InputTooLongError,
  EmptyInputError,
  ProviderAuthError,
  ProviderRejectedError,
} from './embedders/errors.js';
export { FingerprintMismatchError } from './store/store.js';
export { StoreMissingError } from './store/verify.js';
export { InvalidVectorError } from './store/write.js';
export { IndexBuildError } from './store/index.js';
export { RerankWeightsError } from './router/rerank-model.js';
export { LoadError } from './source/load.js';
export { TransitionRefusedError } from './migration/lifecycle.js';
export { ConcurrentChangeError, MigrationNotFoundError } from './migration/state.js';
export { NoMigrationError } from './gates/controller.js';
export { DatabaseLockedError } from './db/data-dir-lock.js';
export { InvalidRequestError } from './router/request.js';
export { OverloadedError, SearchTimeoutError, CandidateTimeoutError } from './router/load.js';
export { ControllerStandby } from './gates/lease.js';
export { DatasetError } from './eval/beir.js';
export { TrecFormatError } from './eval/trec.js';
// Raised inside the JSON Lines readers; they reach callers turned into a LoadError or DatasetError.
export { LineDecodeError } from './source/jsonl.js';
export { ShapeError } from './source/document-shapes.js';
