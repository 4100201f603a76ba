import { redactSecrets } from '../redact.js';

export interface WebhookResult {
  ok: boolean;
  status: number | null;
  /** Why it did not succeed: the HTTP status and the start of the body, or the network error. */
  error?: string;
}

/**
 * POSTs a JSON event. Never throws: a webhook that cannot be reached is a result (which holds a
 * promotion), not a crash of the controller.
 */
export async function postWebhook(
  url: string,
  payload: Record<string, unknown>,
  timeoutMs: number,
  fetchImpl: typeof fetch = fetch,
): Promise<WebhookResult> {
  try {
    const response = await fetchImpl(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'reembed-controller' },
      body: JSON.stringify(payload),
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (response.ok) return { ok: true, status: response.status };
    const body = (await response.text().catch(() => '')).slice(0, 200);
    return {
      ok: false,
      status: response.status,
      error: redactSecrets(`HTTP ${response.status}${body ? `: ${body}` : ''}`),
    };
  } catch (error) {
    const e = error as Error & { cause?: { code?: string } };
    const why = e.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : (e.cause?.code ?? e.message);
    return { ok: false, status: null, error: redactSecrets(why) };
  }
}
