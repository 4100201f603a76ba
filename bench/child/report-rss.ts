/**
 * Preloaded into a child process with `node --import`: when the process exits, writes its peak
 * resident set size (getrusage's ru_maxrss, which node reports in KiB) and its heap at that
 * moment to the file named by REEMBED_BENCH_RSS_FILE. The child's own code is untouched.
 */
import { writeFileSync } from 'node:fs';

const file = process.env.REEMBED_BENCH_RSS_FILE;
if (file) {
  process.on('exit', (code) => {
    const memory = process.memoryUsage();
    const report = {
      code,
      maxRssKiB: process.resourceUsage().maxRSS,
      rssAtExit: memory.rss,
      heapUsedAtExit: memory.heapUsed,
      heapTotalAtExit: memory.heapTotal,
      externalAtExit: memory.external,
      arrayBuffersAtExit: memory.arrayBuffers,
    };
    writeFileSync(file, `${JSON.stringify(report)}\n`);
  });
}
