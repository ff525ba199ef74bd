import { runExample } from './support/readme';
import { startTestGateway, TestGateway } from './support/gateway';

describe('README examples', () => {
  let gw: TestGateway;
  let apiKey: string;

  beforeAll(async () => {
    gw = await startTestGateway({ background: false });
    ({ apiKey } = await gw.createOrg('Readme Org'));
  });
  afterAll(() => gw.close());

  it('the first curl request answers the organization', async () => {
    const { stdout, code, stderr } = await runExample('organization', { ALLOY_URL: gw.url, API_KEY: apiKey });
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toEqual({ data: { organization: { id: expect.any(String), name: 'Readme Org' } } });
  });
});
