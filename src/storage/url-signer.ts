import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { statement, StatementRunner } from '../db/statements';

const SETTING_KEY = 'storage.url_signing_secret';
const SQL = {
  offerSecret: statement('storage.offer-signing-secret', `INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING`),
  secret: statement('storage.signing-secret', `SELECT value FROM settings WHERE key = $1`),
};

/**
 * HMAC signatures for the disk driver's download URLs (`/files/:id/content?expires=&signature=`).
 * The key comes from URL_SIGNING_SECRET or is generated once and kept in `settings`, so every
 * gateway on the database accepts the others' URLs.
 */
export class UrlSigner {
  private secret: Promise<Buffer> | undefined;

  constructor(
    private readonly sql: StatementRunner,
    private readonly configured: string | undefined,
  ) {}

  private key(): Promise<Buffer> {
    this.secret ??= (async () => {
      if (this.configured) return Buffer.from(this.configured, 'utf8');
      await this.sql.run(SQL.offerSecret, [SETTING_KEY, randomBytes(32).toString('base64url')]);
      const row = await this.sql.first<{ value: string }>(SQL.secret, [SETTING_KEY]);
      return Buffer.from(row!.value, 'utf8');
    })().catch((error) => {
      this.secret = undefined;
      throw error;
    });
    return this.secret;
  }

  /**
   * A link to the file's current bytes signs `file-content`; one to a version of them (the etag a
   * run was given) signs `file-version` with the etag, so neither signature can stand for the other.
   */
  private async mac(fileId: string, expires: number, etag?: string): Promise<Buffer> {
    const message = etag === undefined ? `file-content\n${fileId}\n${expires}` : `file-version\n${fileId}\n${etag}\n${expires}`;
    return createHmac('sha256', await this.key())
      .update(message)
      .digest();
  }

  async sign(fileId: string, expiresAt: Date, etag?: string): Promise<{ expires: number; signature: string }> {
    const expires = Math.floor(expiresAt.getTime() / 1000);
    return { expires, signature: (await this.mac(fileId, expires, etag)).toString('base64url') };
  }

  /** True when the signature was made by us for this file (and this etag, when given) and has not expired. */
  async verify(fileId: string, expires: string, signature: string, now = Date.now(), etag?: string): Promise<boolean> {
    if (!/^\d{1,12}$/.test(expires) || !/^[A-Za-z0-9_-]{43}$/.test(signature)) return false;
    const expiresAt = Number(expires);
    if (expiresAt * 1000 <= now) return false;
    const expected = await this.mac(fileId, expiresAt, etag);
    const given = Buffer.from(signature, 'base64url');
    return given.length === expected.length && timingSafeEqual(given, expected);
  }
}
