/**
 * One redaction for every text that leaves the process or is stored: messages, log lines,
 * audit reasons. It removes the password of any URL's user-info (even one a URL parser would
 * refuse, such as a password holding `/`), and the value of any query parameter whose name
 * says it is a secret (password, token, key, secret, signature, …).
 */
const USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/[^\s/?#@:]*):[^\s@]*@/gi;
const SECRET_PARAM =
  /([?&;][^=&\s#]*(?:pass(?:word|wd)?|pwd|token|secret|key|signature|sig|credential|auth)[^=&\s#]*=)[^&\s#]*/gi;

export const REDACTED = '***';

export function redactSecrets(text: string): string {
  return text.replace(USERINFO, `$1:${REDACTED}@`).replace(SECRET_PARAM, `$1${REDACTED}`);
}

/** Whether a URL carries credentials in its user-info. */
export function hasUserInfo(url: string): boolean {
  try {
    const u = new URL(url);
    return u.username !== '' || u.password !== '';
  } catch {
    return /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*@/i.test(url);
  }
}
