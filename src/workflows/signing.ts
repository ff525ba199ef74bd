import { createHmac, randomBytes } from 'node:crypto';

/**
 * Signatures of http step requests. Each workflow has a signing secret (shown once, by
 * `alloy workflow create`, and by `alloy workflow rotate-secret`); every request a step sends
 * carries `alloy-signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, so that a
 * target can check that a call came from this workflow, unchanged, and recently. While an old
 * secret is kept after a rotation, a second `v1=` signed with it follows the first.
 */

export const SIGNATURE_HEADER = 'alloy-signature';

/** The prefix makes a leaked secret recognisable, like the API keys' `alloy_sk_`. */
export const SIGNING_SECRET_PREFIX = 'alloy_whsec_';

/** How long `rotate-secret --keep-previous` may keep the old secret signing too. */
export const MAX_KEEP_PREVIOUS_SECONDS = 7 * 24 * 3600;

export function newSigningSecret(): string {
  return `${SIGNING_SECRET_PREFIX}${randomBytes(32).toString('base64url')}`;
}

/** The header value for `body` at `now`, with one `v1=` per secret (the current one first). */
export function signatureHeader(secrets: readonly string[], body: string, now = new Date()): string {
  const t = Math.floor(now.getTime() / 1000);
  const signatures = secrets.map((secret) => `v1=${createHmac('sha256', secret).update(`${t}.${body}`).digest('hex')}`);
  return [`t=${t}`, ...signatures].join(',');
}
