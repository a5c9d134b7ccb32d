// Tests of the Node client against a real broker and real servers. The Go
// test internal/matrix (TestCompatibility/node-client) starts them and sets
// CONNBROKER_ADDR and CONNBROKER_TEST_LOGINS (JSON [[endpoint, user], ...]);
// run alone, these tests fail with that explanation.
'use strict';

const test = require('node:test');
const assert = require('node:assert');
const connbroker = require('..');

function env() {
  const logins = process.env.CONNBROKER_TEST_LOGINS;
  if (!process.env.CONNBROKER_ADDR || !logins) {
    assert.fail('CONNBROKER_ADDR and CONNBROKER_TEST_LOGINS are not set: run `go test ./internal/matrix -run TestCompatibility/node-client`');
  }
  return JSON.parse(logins);
}

test('connect with nothing but an endpoint name', async (t) => {
  for (const [endpoint, user] of env()) {
    await t.test(endpoint, async () => {
      const conn = await connbroker.connect(endpoint);
      try {
        const [rows] = await conn.query({ sql: 'SELECT CURRENT_USER()', rowsAsArray: true });
        assert.strictEqual(rows[0][0], user);
      } finally {
        await conn.end();
      }
    });
  }
});

test('unknown driver is INVALID_ARGUMENT listing the known ones', async () => {
  const [[endpoint]] = env();
  const c = new connbroker.Client();
  try {
    await assert.rejects(c.getConnectionParams(endpoint, 'odbc'), (err) => {
      assert.strictEqual(err.code, 3); // INVALID_ARGUMENT
      assert.match(err.message, /known drivers: .*mysql2/);
      return true;
    });
  } finally {
    c.close();
  }
});

test('mysql2Options refuses to send a token without TLS', () => {
  const params = {
    endpoint: 'e',
    resolution: { plugin: 'mysql_clear_password', tlsRequired: true },
    credential: { secret: 's3cret', kind: 'CREDENTIAL_KIND_IAM_TOKEN' },
    tls: { caPem: '' },
    hints: { driver: 'mysql2', secretOption: 'password', options: [{ name: 'host', value: 'stringValue', stringValue: 'h' }] },
  };
  assert.throws(() => connbroker.mysql2Options(params), (err) => !err.message.includes('s3cret') && /needs TLS/.test(err.message));
});

test('optionsToObject', () => {
  const options = [
    { name: 'a', value: 'stringValue', stringValue: 'x' }, { name: 'n', value: 'intValue', intValue: '3306' },
    { name: 'b', value: 'boolValue', boolValue: false },
    { name: 'o', value: 'optionsValue', optionsValue: { options: [{ name: 'c', value: 'stringValue', stringValue: '{ca_file}' }] } },
    { name: 'newer' },
  ];
  assert.deepStrictEqual(connbroker.optionsToObject(options), { a: 'x', n: 3306, b: false, o: { c: '{ca_file}' }, newer: null });
});

test('repeat params are compact on the wire and complete for the caller', async (t) => {
  for (const [endpoint, user] of env()) {
    await t.test(endpoint, async () => {
      const c = new connbroker.Client();
      try {
        const first = await c.getConnectionParams(endpoint);
        const raw = (req) => new Promise((resolve, reject) => c.stub.getConnectionParams({ endpoint, driver: connbroker.DRIVER, ...req },
          { deadline: Date.now() + 10000 }, (err, resp) => (err ? reject(err) : resolve(resp.params))));
        const compact = c.cas.request(endpoint, connbroker.DRIVER);
        assert.strictEqual(compact.knownViewSha256.length, 32, 'the request does not name the view held');
        const wire = await raw({ ...compact, knownViewSha256: Buffer.alloc(0) }); // the CA and options alone
        assert.strictEqual(wire.tls.caPem, '', 'the CA PEM was sent again');
        assert.ok(!wire.hints.options.some((o) => ['host', 'port', 'user', 'database'].includes(o.name)), 'options repeat params');
        const bare = await raw(compact); // the view held too: the credential alone
        assert.ok(bare.viewOmitted && !bare.hints && !bare.host && bare.credential.secret, 'the view was sent again');
        const check = (got) => {
          assert.strictEqual(got.tls.caPem, first.tls.caPem);
          assert.strictEqual(got.host, first.host);
          assert.strictEqual(got.credential.secret, first.credential.secret);
          assert.deepStrictEqual(connbroker.optionsToObject(got.hints.options), connbroker.optionsToObject(first.hints.options));
          assert.deepStrictEqual(got.resolution, first.resolution);
        };
        const second = await c.getConnectionParams(endpoint);
        check(second);
        second.hints.options.length = 0; // a caller's change does not reach the view held
        check(await c.getConnectionParams(endpoint));
        assert.strictEqual(connbroker.optionsToObject(first.hints.options).host, first.host);
        // The view dropped after the request named it: asked again, whole.
        const request = c.cas.request.bind(c.cas);
        c.cas.request = (e, d) => { const r = request(e, d); c.cas.forgetView(e, d); return r; };
        check(await c.getConnectionParams(endpoint));
        c.cas.request = request;
        const conn = await connbroker.connect(endpoint, { client: c });
        try {
          const [rows] = await conn.query({ sql: 'SELECT CURRENT_USER()', rowsAsArray: true });
          assert.strictEqual(rows[0][0], user);
        } finally {
          await conn.end();
        }
      } finally {
        c.close();
      }
    });
  }
});
