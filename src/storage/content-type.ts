import mime from 'mime-types';

/** The type the client sent with the upload, unless it is missing or generic; then a guess from the name. */
export function chooseContentType(given: string | null | undefined, name: string): string {
  const sent = given?.trim().toLowerCase();
  if (sent && sent !== 'application/octet-stream' && /^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+(\s*;.*)?$/.test(sent)) return given!.trim();
  return mime.lookup(name) || 'application/octet-stream';
}
