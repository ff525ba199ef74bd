import { errorCode, GraphQLResponse, postGraphql } from './support/http';
import { useGatewayWithOrg } from './support/gateway';
import { filesUnder, uploadFile } from './support/storage';

/**
 * Malformed GraphQL multipart requests answer HTTP 400 (or 413) with BAD_USER_INPUT or
 * INVALID_PATH and a message saying what is wrong, store nothing, and leave the server serving.
 * The bodies are written byte by byte, as a broken or hostile client would send them.
 */

const BOUNDARY = 'alloyMultipartTest';
const OPERATIONS = JSON.stringify({
  query: 'mutation($file: Upload!) { uploadFile(folder: "/in", file: $file) { id name } }',
  variables: { file: null },
});

function part(headers: string, content: string): string {
  return `--${BOUNDARY}\r\n${headers}\r\n\r\n${content}\r\n`;
}

/** operations + map + the given parts + the closing boundary (unless `ending` says otherwise). */
function body(parts: string[], options: { map?: string; ending?: string } = {}): Buffer {
  const text =
    part('Content-Disposition: form-data; name="operations"', OPERATIONS) +
    part('Content-Disposition: form-data; name="map"', options.map ?? '{"0":["variables.file"]}') +
    parts.join('') +
    (options.ending ?? `--${BOUNDARY}--\r\n`);
  // latin1: every character below U+0100 becomes the one byte it names, control characters included.
  return Buffer.from(text, 'latin1');
}

const filePart = (disposition: string) =>
  part(`Content-Disposition: form-data; name="0"; ${disposition}\r\nContent-Type: text/plain`, 'hello');

describe('malformed multipart uploads', () => {
  const { gw, org } = useGatewayWithOrg({
    env: { NODE_ENV: 'production', STORAGE_DELETION_DELAY_SECONDS: '0' },
    storageDir: true,
    orgName: 'Multipart',
  });

  const send = (payload: Buffer, contentType = `multipart/form-data; boundary=${BOUNDARY}`): Promise<GraphQLResponse> =>
    postGraphql(gw.url, payload, { apiKey: org.apiKey, contentType });
  const stored = async () => ({
    entries: (
      await gw.db.query(`SELECT count(*)::int AS n FROM storage_entries WHERE organization_id = $1 AND parent_id IS NOT NULL`, [org.orgId])
    )[0].n,
    pending: (await gw.db.query(`SELECT count(*)::int AS n FROM storage_pending_objects`))[0].n,
    objects: filesUnder(gw.config.storageDir).length,
  });

  const cases: Array<[string, number, string, RegExp, () => Buffer]> = [
    [
      'a NUL in the filename',
      400,
      'BAD_USER_INPUT',
      /part header could not be read.*control characters like NUL/,
      () => body([filePart('filename="a\u0000b.txt"')]),
    ],
    [
      'a control character (BEL) in the filename',
      400,
      'BAD_USER_INPUT',
      /part header could not be read/,
      () => body([filePart('filename="a\u0007b.txt"')]),
    ],
    [
      'a raw newline in the filename',
      400,
      'BAD_USER_INPUT',
      /part header could not be read/,
      () => body([filePart('filename="a\nb.txt"')]),
    ],
    [
      'a filename that is only a backslash',
      400,
      'BAD_USER_INPUT',
      /no file arrived for variables\.file/,
      () => body([filePart('filename="\\"')]),
    ],
    [
      'a filename that is only a path',
      400,
      'INVALID_PATH',
      /filename of variables\.file is empty/,
      () => body([filePart('filename="dir/"')]),
    ],
    ['an empty filename', 400, 'BAD_USER_INPUT', /no file arrived for variables\.file/, () => body([filePart('filename=""')])],
    ['no file part at all', 400, 'BAD_USER_INPUT', /no file arrived for variables\.file/, () => body([])],
    [
      'a map naming a part that is not sent',
      400,
      'BAD_USER_INPUT',
      /no file arrived for variables\.file/,
      () => body([filePart('filename="a.txt"')], { map: '{"7":["variables.file"]}' }),
    ],
    ['a percent-encoded NUL in filename*', 400, 'INVALID_PATH', /control character/, () => body([filePart("filename*=UTF-8''a%00b.txt")])],
    [
      'a percent-encoded newline in filename*',
      400,
      'INVALID_PATH',
      /control character/,
      () => body([filePart("filename*=UTF-8''a%0Ab.txt")]),
    ],
    [
      'two files for one upload',
      413,
      'BAD_USER_INPUT',
      /at most one file/,
      () =>
        body([filePart('filename="a.txt"'), part('Content-Disposition: form-data; name="1"; filename="b.txt"', 'x')], {
          map: '{"0":["variables.file"],"1":["variables.other"]}',
        }),
    ],
    [
      'a body cut before its closing boundary',
      400,
      'BAD_USER_INPUT',
      /ended before its closing boundary/,
      () => body([`--${BOUNDARY}\r\nContent-Disposition: form-data; name="0"; filename="a.txt"\r\n\r\nhel`], { ending: '' }),
    ],
    [
      'invalid JSON in operations',
      400,
      'BAD_USER_INPUT',
      /Invalid JSON in the 'operations' multipart field/,
      () => Buffer.from(part('Content-Disposition: form-data; name="operations"', '{"query":') + `--${BOUNDARY}--\r\n`),
    ],
    [
      'the map before operations',
      400,
      'BAD_USER_INPUT',
      /Misordered multipart fields/,
      () => Buffer.from(part('Content-Disposition: form-data; name="map"', '{}') + `--${BOUNDARY}--\r\n`),
    ],
  ];

  it.each(cases)('%s: HTTP %s %s with a clear message, nothing stored', async (_label, status, code, message, make) => {
    const before = await stored();
    const res = await send(make());
    expect({ status: res.status, code: errorCode(res) }).toEqual({ status, code });
    expect(res.body.errors![0].message).toMatch(message);
    expect(JSON.stringify(res.body)).not.toMatch(/stacktrace|node_modules|\bat \w+ \(/);
    expect(await stored()).toEqual(before);
  });

  it('answers every cut-off body, also when it races the upload of the file before it (no request left hanging)', async () => {
    const whole = body([filePart('filename="race.txt"')]);
    const cut = body([`--${BOUNDARY}\r\nContent-Disposition: form-data; name="0"; filename="race.txt"\r\n\r\nhel`], { ending: '' });
    for (let i = 0; i < 10; i++) {
      const answers = await Promise.all([send(whole), send(cut), send(cut)]);
      expect(answers.map((a) => a.status)).toEqual([200, 400, 400]);
      expect(answers.slice(1).map(errorCode)).toEqual(['BAD_USER_INPUT', 'BAD_USER_INPUT']);
    }
    expect((await stored()).pending).toBe(0);
  });

  it('a multipart content type without a boundary: HTTP 400 BAD_USER_INPUT', async () => {
    const res = await send(body([filePart('filename="a.txt"')]), 'multipart/form-data');
    expect(res.status).toBe(400);
    expect(errorCode(res)).toBe('BAD_USER_INPUT');
    expect(res.body.errors![0].message).toBe(
      'Malformed multipart request: the content type needs a boundary (multipart/form-data; boundary=…)',
    );
  });

  it('still stores a well-formed upload afterwards, with a non-ASCII name sent in filename*', async () => {
    const res = await send(body([filePart("filename*=UTF-8''r%C3%A9sum%C3%A9.txt")]));
    expect(res.status).toBe(200);
    expect(res.body.data.uploadFile.name).toBe('résumé.txt');
    const plain = await uploadFile(gw.url, org.apiKey, '/in', 'plain.txt', 'bytes');
    expect(plain.body.errors).toBeUndefined();
  });
});
