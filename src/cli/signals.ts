/**
 * An AbortSignal that fires on SIGINT or SIGTERM, so long-running commands stop cleanly
 * (workers give back their leases). A second signal exits at once.
 */
export function shutdownSignal(onStop?: (signal: string) => void): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const handler = (name: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(130);
    onStop?.(name);
    controller.abort(new Error(`stopped by ${name}`));
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    signal: controller.signal,
    dispose: () => {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    },
  };
}
