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

  /** A file's current content, or (`version`) one of its versions: a URL for one never serves the other. */
  private async mac(fileId: string, expires: number, version: string | undefined): Promise<Buffer> {
    const subject = version === undefined ? `file-content\n${fileId}` : `file-version\n${fileId}\n${version}`;
    return createHmac('sha256', await this.key())
      .update(`${subject}\n${expires}`)
      .digest();
  }

  async sign(fileId: string, expiresAt: Date, version?: string): Promise<{ expires: number; signature: string }> {
    const expires = Math.floor(expiresAt.getTime() / 1000);
    return { expires, signature: (await this.mac(fileId, expires, version)).toString('base64url') };
  }

  /** True when the signature was made by us for this file (and version) and has not expired. */
  async verify(fileId: string, expires: string, signature: string, version?: string, now = Date.now()): Promise<boolean> {
    if (!/^\d{1,12}$/.test(expires) || !/^[A-Za-z0-9_-]{43}$/.test(signature)) return false;
    const expiresAt = Number(expires);
    if (expiresAt * 1000 <= now) return false;
    const expected = await this.mac(fileId, expiresAt, version);
    const given = Buffer.from(signature, 'base64url');
    return given.length === expected.length && timingSafeEqual(given, expected);
  }
}
