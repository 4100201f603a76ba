/**
 * Progress on stderr: a redrawn bar on a TTY, a plain line every few seconds otherwise (logs
 * and CI), and nothing in quiet mode.
 */
export interface Progress {
  update(done: number, total: number, extra?: string): void;
  finish(message?: string): void;
}

export function createProgress(
  label: string,
  options: { stream?: NodeJS.WriteStream; quiet?: boolean; intervalMs?: number } = {},
): Progress {
  const stream = options.stream ?? process.stderr;
  if (options.quiet) return { update() {}, finish() {} };
  const tty = Boolean(stream.isTTY);
  const interval = options.intervalMs ?? (tty ? 100 : 3000);
  const started = performance.now();
  let last = 0;
  let lastLine = '';
  const line = (done: number, total: number, extra?: string) => {
    const elapsed = (performance.now() - started) / 1000;
    // A rate over a few milliseconds is noise; show one once there is something to average.
    const rate = elapsed >= 0.5 ? done / elapsed : 0;
    const pct = total > 0 ? Math.min(100, (100 * done) / total) : 100;
    const eta = rate > 0 && total > done ? `, eta ${Math.ceil((total - done) / rate)}s` : '';
    const speed = rate > 0 ? ` ${rate.toFixed(0)}/s` : '';
    const stats = `${done}/${total} (${pct.toFixed(1)}%)${speed}${eta}${extra ? `, ${extra}` : ''}`;
    if (!tty) return `${label}: ${stats}`;
    const width = 24;
    const filled = Math.round((pct / 100) * width);
    return `${label} [${'█'.repeat(filled)}${'░'.repeat(width - filled)}] ${stats}`;
  };
  return {
    update(done, total, extra) {
      const now = performance.now();
      // The first line waits one interval too, so quick work prints only its final line.
      if (last === 0) last = started;
      if (now - last < interval && done < total) return;
      last = now;
      lastLine = line(done, total, extra);
      stream.write(tty ? `\r\x1b[2K${lastLine}` : `${lastLine}\n`);
    },
    finish(message) {
      if (tty && lastLine) stream.write('\r\x1b[2K');
      if (message) stream.write(`${label}: ${message}\n`);
    },
  };
}
