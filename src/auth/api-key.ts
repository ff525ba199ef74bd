import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Key format: `alloy_sk_<lookup>_<secret>`. The prefix makes a leaked key easy to recognise
 * (secret scanners, logs); `lookup` (16 hex chars) finds the row without revealing the secret;
 * `secret` is 32 random bytes, base64url. Only a SHA-256 hash of the secret is kept
 * (`api_keys.secret_hash`): keys are 256-bit random values, so a slow password hash would add
 * latency to every request and no security.
 */
export const API_KEY_PREFIX = 'alloy_sk_';
const KEY_PATTERN = /^alloy_sk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

export interface ParsedApiKey {
  lookupId: string;
  secret: string;
}

export interface GeneratedApiKey extends ParsedApiKey {
  raw: string;
  secretHash: Buffer;
}

export function hashSecret(secret: string): Buffer {
  return createHash('sha256').update(secret).digest();
}

export function generateApiKey(): GeneratedApiKey {
  const lookupId = randomBytes(8).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  return { raw: `${API_KEY_PREFIX}${lookupId}_${secret}`, lookupId, secret, secretHash: hashSecret(secret) };
}

export function parseApiKey(raw: string): ParsedApiKey | null {
  const match = KEY_PATTERN.exec(raw.trim());
  return match ? { lookupId: match[1], secret: match[2] } : null;
}

/** Constant-time check of a presented secret against the stored hash. */
export function secretMatches(secret: string, storedHash: Buffer): boolean {
  const presented = hashSecret(secret);
  return presented.length === storedHash.length && timingSafeEqual(presented, storedHash);
}
