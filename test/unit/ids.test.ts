import { isUuid, uuidv7 } from '../../src/db/ids';

describe('isUuid', () => {
  it('accepts uuids in either case', () => {
    for (const id of [
      '3f0c1c9e-1b2d-4c3e-8f4a-5b6c7d8e9f00',
      '3F0C1C9E-1B2D-4C3E-8F4A-5B6C7D8E9F00',
      '00000000-0000-0000-0000-000000000000',
    ])
      expect(isUuid(id)).toBe(true);
  });

  it('refuses anything else, so that a malformed id reads as not found', () => {
    for (const value of [
      '',
      'nope',
      '3f0c1c9e1b2d4c3e8f4a5b6c7d8e9f00',
      '{3f0c1c9e-1b2d-4c3e-8f4a-5b6c7d8e9f00}',
      ' 3f0c1c9e-1b2d-4c3e-8f4a-5b6c7d8e9f00',
      '3f0c1c9e-1b2d-4c3e-8f4a-5b6c7d8e9f00\n',
      '3f0c1c9e-1b2d-4c3e-8f4a-5b6c7d8e9f0g',
      "3f0c1c9e-1b2d-4c3e-8f4a-5b6c7d8e9f00' OR '1'='1",
      null,
      undefined,
      42,
      ['3f0c1c9e-1b2d-4c3e-8f4a-5b6c7d8e9f00'],
    ]) {
      expect([value, isUuid(value)]).toEqual([value, false]);
    }
  });
});

describe('uuidv7', () => {
  it('is a version 7, RFC 9562 variant uuid whose first 48 bits are the time in milliseconds', () => {
    const at = Date.UTC(2026, 11, 6, 22, 10, 0, 123);
    const id = uuidv7(at);
    expect(isUuid(id)).toBe(true);
    expect(id[14]).toBe('7');
    expect(['8', '9', 'a', 'b']).toContain(id[19]);
    expect(parseInt(id.replace(/-/g, '').slice(0, 12), 16)).toBe(at);
  });

  it('sorts ids of later milliseconds after earlier ones (as Postgres compares uuids), and differs within one', () => {
    const ids = Array.from({ length: 200 }, (_, i) => uuidv7(1_700_000_000_000 + i * 7));
    expect([...ids].sort()).toEqual(ids);
    const same = new Set(Array.from({ length: 1000 }, () => uuidv7(1_700_000_000_000)));
    expect(same.size).toBe(1000);
  });
});
