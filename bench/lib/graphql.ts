import { randomBytes } from 'node:crypto';

export interface GraphQLAnswer<T = any> {
  status: number;
  data?: T;
  errors?: Array<{ message: string; extensions?: { code?: string } }>;
}

/** A JSON GraphQL POST, as a client sends it. */
export async function graphql<T = any>(
  url: string,
  apiKey: string | undefined,
  query: string,
  variables: Record<string, unknown> = {},
): Promise<GraphQLAnswer<T>> {
  const res = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(apiKey ? { 'api-key': apiKey } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await res.json()) as GraphQLAnswer<T>;
  return { status: res.status, data: body.data, errors: body.errors };
}

/** Like `graphql`, but throws on an error answer. */
export async function mustQuery<T = any>(url: string, apiKey: string, query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const answer = await graphql<T>(url, apiKey, query, variables);
  if (answer.status !== 200 || answer.errors?.length || !answer.data) {
    throw new Error(`GraphQL ${answer.status}: ${JSON.stringify(answer.errors ?? answer)} for ${query.slice(0, 120)}`);
  }
  return answer.data;
}

export const UPLOAD_MUTATION =
  'mutation($folder: String!, $file: Upload!, $name: String) { uploadFile(folder: $folder, file: $file, name: $name) { id size } }';

/**
 * A complete multipart body (GraphQL multipart request spec) for one `uploadFile`, built once so
 * that autocannon can send it again and again.
 */
export function multipartUpload(folder: string, name: string, content: Buffer): { body: Buffer; contentType: string } {
  const boundary = `----alloybench${randomBytes(8).toString('hex')}`;
  const operations = JSON.stringify({ query: UPLOAD_MUTATION, variables: { folder, name, file: null } });
  const map = JSON.stringify({ 0: ['variables.file'] });
  const part = (headers: string, value: string | Buffer) =>
    Buffer.concat([
      Buffer.from(`--${boundary}\r\n${headers}\r\n\r\n`),
      Buffer.isBuffer(value) ? value : Buffer.from(value),
      Buffer.from('\r\n'),
    ]);
  const body = Buffer.concat([
    part('Content-Disposition: form-data; name="operations"', operations),
    part('Content-Disposition: form-data; name="map"', map),
    part(`Content-Disposition: form-data; name="0"; filename="${name}"\r\nContent-Type: application/octet-stream`, content),
    Buffer.from(`--${boundary}--\r\n`),
  ]);
  return { body, contentType: `multipart/form-data; boundary=${boundary}` };
}

/** One upload through the gateway; resolves to the stored file or throws. */
export async function upload(
  url: string,
  apiKey: string,
  folder: string,
  name: string,
  content: Buffer,
): Promise<{ id: string; size: number }> {
  const { body, contentType } = multipartUpload(folder, name, content);
  const res = await fetch(`${url}/graphql`, { method: 'POST', headers: { 'api-key': apiKey, 'content-type': contentType }, body });
  const answer = (await res.json()) as GraphQLAnswer<{ uploadFile: { id: string; size: number } }>;
  if (res.status !== 200 || answer.errors?.length || !answer.data)
    throw new Error(`upload ${res.status}: ${JSON.stringify(answer.errors)}`);
  return answer.data.uploadFile;
}

/** Runs `task(i)` for i in [0, count) with at most `concurrency` at once. */
export async function pool(count: number, concurrency: number, task: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < count) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
}
