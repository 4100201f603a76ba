import type { AlertEvent, AlertReport } from '../reembed.js';
import { significant, table } from './format.js';

/** An alert notification in one line: severity, rule, summary and how its delivery went. */
export function alertLine(e: AlertEvent): string {
  const sent = e.deliveries ?? [];
  const delivered =
    sent.length === 0
      ? 'no receiver'
      : sent.map((d) => `${d.url} ${d.ok ? 'ok' : `failed (${d.error ?? d.status})`}`).join(', ');
  return `[${e.severity.toUpperCase()}] ${e.rule} ${e.transition}: ${e.summary} → ${delivered}`;
}

/** One evaluation of the rules: a table of every rule's standing, then its notifications. */
export function alertReportText(r: AlertReport): string {
  const where = r.migration ? `migration ${r.migration}` : 'no migration in progress';
  const lines = [`${r.at} alerts (${where}): ${r.rules.length} rules, ${r.events.length} notifications`];
  if (r.rules.length)
    lines.push(
      table(
        ['rule', 'severity', 'metric', 'profile', 'value', 'condition', 'state'],
        r.rules.map((x) => [
          x.rule,
          x.severity,
          x.metric,
          x.profile ?? '-',
          significant(x.value),
          x.condition,
          x.breach === null ? `${x.phase} (no data)` : x.phase,
        ]),
      ),
    );
  for (const e of r.events) lines.push(`alert: ${alertLine(e)}`);
  return lines.join('\n');
}
