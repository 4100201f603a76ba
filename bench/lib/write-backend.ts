import type { Profile } from '../../src/config/profile.js';
import type { StoredVector } from '../../src/store/write.js';
import type { VectorSet } from './vectors.js';

/**
 * One database the write benchmark measures. Each measure* call writes the whole set into a
 * fresh, empty store table, verifies what was stored, cleans up, and returns only the seconds
 * the write itself took (table creation, the guarded path's source table, and verification are
 * off the clock).
 */
export interface WriteBackend {
  name: 'pglite' | 'postgres';
  description: string;
  versions: { server: string; pgvector: string };
  /** writeVectors in batches. */
  measureReembed(profile: Profile, rows: StoredVector[], set: VectorSet, batch: number): Promise<number>;
  /** writeIfCurrent in batches, against a source table whose rows all match; `profile` must name that source. */
  measureGuarded(profile: Profile, set: VectorSet, batch: number): Promise<number>;
  /** Binary COPY of the set: in one COPY, or with `batch`, one autocommit COPY per batch. */
  measureCopy(profile: Profile, set: VectorSet, batch: number | null): Promise<number>;
  close(): Promise<void>;
}
