/** Alert notifications: the payload of each format, and delivery to every receiver of the severity. */
import type { AlertWebhook } from '../config/alerts.js';
import type { AlertEvent } from './alert-tables.js';
import { postWebhook, type WebhookResult } from './webhook.js';

export type Delivery = WebhookResult & { url: string; format: AlertWebhook['format'] };

/**
 * How a receiver is named where deliveries are stored and printed: its origin only, since a
 * Slack-style incoming webhook carries its secret in the path.
 */
export function receiverName(url: string): string {
  const u = new URL(url);
  return u.pathname === '/' && !u.search ? u.origin : `${u.origin}/…`;
}

const ICON: Record<string, string> = { firing: '🔥', repeat: '🔁', resolved: '✅' };

/** One line a person reads: `[CRITICAL] p95-high firing: online.latency_p95_ms 31 > 20 (for 10m)`. */
export function alertText(e: Pick<AlertEvent, 'severity' | 'rule' | 'transition' | 'summary' | 'scope'>): string {
  const what = e.transition === 'repeat' ? 'still firing' : e.transition;
  const where = e.scope ? ` (migration ${e.scope})` : '';
  return `${ICON[e.transition] ?? ''} [${e.severity.toUpperCase()}] ${e.rule} ${what}${where}: ${e.summary}`.trim();
}

/** The body POSTed: the stored event as it is (`json`), or `{text}` for a Slack-compatible webhook. */
export function alertPayload(e: AlertEvent, format: AlertWebhook['format']): Record<string, unknown> {
  if (format === 'slack') return { text: alertText(e) };
  return {
    event: 'alert',
    id: e.id,
    at: e.at,
    rule: e.rule,
    severity: e.severity,
    status: e.transition === 'resolved' ? 'resolved' : 'firing',
    transition: e.transition,
    migration: e.scope || null,
    value: e.value,
    summary: e.summary,
    details: e.details,
  };
}

/** POSTs the event to every receiver that takes its severity; never throws (a result per receiver). */
export async function deliverAlert(
  e: AlertEvent,
  webhooks: readonly AlertWebhook[],
  timeoutMs: number,
  fetchImpl?: typeof fetch,
): Promise<Delivery[]> {
  const receivers = webhooks.filter((w) => (w.severities as string[]).includes(e.severity));
  return Promise.all(
    receivers.map(async (w) => ({
      url: receiverName(w.url),
      format: w.format,
      ...(await postWebhook(w.url, alertPayload(e, w.format), timeoutMs, fetchImpl)),
    })),
  );
}
