/**
 * How many served searches this process has in flight, over every router in it: shadow work
 * (shadow.ts) runs only while this is below its threshold, so it yields to serving. A served
 * search that ends wakes what waits for a quieter moment.
 */
let inFlight = 0;
const waiting = new Set<() => void>();

/** Served searches of this process not yet answered (or failed). */
export function servedInFlight(): number {
  return inFlight;
}

/** Counts one served search from now until `end` is called (once). */
export function servedStarted(): () => void {
  inFlight++;
  let ended = false;
  return () => {
    if (ended) return;
    ended = true;
    inFlight--;
    const wake = [...waiting];
    waiting.clear();
    for (const w of wake) w();
  };
}

/** Calls `wake` once, when the next served search ends; the returned function cancels it. */
export function whenServedEnds(wake: () => void): () => void {
  waiting.add(wake);
  return () => waiting.delete(wake);
}
