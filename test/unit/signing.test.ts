import { createHmac } from 'node:crypto';
import { newSigningSecret, signatureHeader, SIGNING_SECRET_PREFIX } from '../../src/workflows/signing';

const hmac = (secret: string, text: string) => createHmac('sha256', secret).update(text).digest('hex');

describe('signatureHeader', () => {
  const at = new Date('2026-01-02T03:04:05.678Z');
  const t = Math.floor(at.getTime() / 1000);
  const body = '{"run":{"id":"r-1"},"payload":{"text":"x\\u0000y"}}';

  it('is t=<unix seconds>,v1=<HMAC-SHA256 of "<t>.<body>"> for one secret', () => {
    expect(signatureHeader(['alloy_whsec_one'], body, at)).toBe(`t=${t},v1=${hmac('alloy_whsec_one', `${t}.${body}`)}`);
  });

  it('carries one v1= per secret, the current one first', () => {
    const header = signatureHeader(['current', 'previous'], body, at);
    expect(header).toBe(`t=${t},v1=${hmac('current', `${t}.${body}`)},v1=${hmac('previous', `${t}.${body}`)}`);
  });

  it('signs the body byte for byte and the time with it: any change gives another signature', () => {
    const signature = (text: string, when: Date) => signatureHeader(['s'], text, when).split(',v1=')[1];
    const original = signature(body, at);
    expect(signature(body.replace('x', 'X'), at)).not.toBe(original);
    expect(signature(`${body} `, at)).not.toBe(original);
    expect(signature(body, new Date(at.getTime() + 1000))).not.toBe(original);
    // Within the same second, the same signature: t is whole seconds.
    expect(signature(body, new Date(Math.floor(at.getTime() / 1000) * 1000 + 999))).toBe(original);
  });

  it('uses the current time by default', () => {
    const before = Math.floor(Date.now() / 1000);
    const stamp = Number(/^t=(\d+),/.exec(signatureHeader(['s'], body))![1]);
    expect(stamp).toBeGreaterThanOrEqual(before);
    expect(stamp).toBeLessThanOrEqual(Math.floor(Date.now() / 1000));
  });
});

describe('newSigningSecret', () => {
  it('is the prefix and 32 random bytes in base64url, new every time', () => {
    const secrets = new Set(Array.from({ length: 50 }, () => newSigningSecret()));
    expect(secrets.size).toBe(50);
    for (const secret of secrets) {
      expect(secret.startsWith(SIGNING_SECRET_PREFIX)).toBe(true);
      expect(Buffer.from(secret.slice(SIGNING_SECRET_PREFIX.length), 'base64url')).toHaveLength(32);
      expect(secret).toMatch(/^alloy_whsec_[A-Za-z0-9_-]{43}$/);
    }
  });
});
