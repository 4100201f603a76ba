import type { Profile } from '../../src/config/profile.js';
import type { StoredVector } from '../../src/store/write.js';
import type { VectorSet } from './vectors.js';

/**
 * One database the write benchmark measures. Each measure* call writes the whole set into a
 * fresh, empty store table, verifies what was stored, cleans up, and returns only the seconds
 * the write itself took (table creation and verification are off the clock).
 */
export interface WriteBackend {
  name: 'pglite' | 'postgres';
  description: string;
  versions: { server: string; pgvector: string };
  measureReembed(profile: Profile, rows: StoredVector[], set: VectorSet, batch: number): Promise<number>;
  measureCopy(profile: Profile, set: VectorSet): Promise<number>;
  close(): Promise<void>;
}
