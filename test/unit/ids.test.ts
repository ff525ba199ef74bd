import { isUuid } from '../../src/db/ids';

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
