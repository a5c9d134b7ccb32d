// The Node client's error classes, chosen by the broker's ErrorReason,
// against a real connbrokerd started here: it listens on a Unix socket too,
// where it identifies this process as uid:N; its policy lets that caller get
// the endpoints app-* only, and its limits allow a burst of 3 credentials.
// connbrokerd comes from CONNBROKER_BIN_DIR, or is built with `go build`.
'use strict';

const test = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const connbroker = require('..');
const { startUnixBroker } = require('../test-support/stack');

const BURST = 3;

function startBroker(t) {
  return startUnixBroker(t, 'cb-node-errors-', (dir, sock) => {
    fs.writeFileSync(path.join(dir, 'pw'), 'node-errors-pw', { mode: 0o600 });
    const endpoint = (user) => `    host: 127.0.0.1\n    user: ${user}\n    auth: password\n    password: {file: ${path.join(dir, 'pw')}}\n    tls: {mode: disabled}\n`;
    return `listen: 127.0.0.1:0
unix: {path: ${sock}}
limits: {issue_rate: 0.001, issue_burst: ${BURST}}
policy:
  - caller: 'uid:${process.getuid()}'
    endpoints: ['app-*']
endpoints:
  app-open:
${endpoint('app')}  secret:
${endpoint('other')}`;
  });
}

test('each refusal rejects with the class of its reason', async (t) => {
  const addr = await startBroker(t);
  const c = new connbroker.Client(addr, { timeoutMs: 10000 });
  t.after(() => c.close());
  // In order: each call takes one credential of the burst, so the last is
  // rate-limited whatever it asks for.
  const cases = [
    ['app-missing', 'mysql2', connbroker.EndpointNotFound, 'ERROR_REASON_ENDPOINT_NOT_FOUND', 5, { endpoint: 'app-missing' }],
    ['secret', 'mysql2', connbroker.PermissionDenied, 'ERROR_REASON_PERMISSION_DENIED', 7, { endpoint: 'secret' }],
    ['app-open', 'odbc', connbroker.InvalidRequest, 'ERROR_REASON_INVALID_ARGUMENT', 3, { field: 'driver' }],
    ['app-open', 'mysql2', connbroker.RateLimited, 'ERROR_REASON_RATE_LIMITED', 8, {}],
  ];
  assert.strictEqual(cases.length, BURST + 1);
  const classes = cases.map((c) => c[2]);
  for (const [endpoint, driver, Cls, reason, code, metadata] of cases) {
    await assert.rejects(c.getConnectionParams(endpoint, driver), (err) => {
      assert.ok(err instanceof Cls && err instanceof connbroker.BrokerError, `${reason}: got ${err.name}: ${err.message}`);
      for (const Other of classes) if (Other !== Cls) assert.ok(!(err instanceof Other), `${err.name} is also ${Other.name}`);
      assert.strictEqual(err.name, Cls.name);
      assert.strictEqual(err.reason, reason);
      assert.strictEqual(err.code, code);
      assert.deepStrictEqual(err.metadata, metadata);
      assert.match(err.message, new RegExp(endpoint));
      return true;
    });
  }
});

test('an unreachable broker is BrokerUnavailable without a reason', async () => {
  const c = new connbroker.Client(`unix://${path.join(os.tmpdir(), `cb-none-${process.pid}.sock`)}`, { timeoutMs: 2000 });
  try {
    await assert.rejects(c.getConnectionParams('app-open'), (err) => {
      assert.ok(err instanceof connbroker.BrokerUnavailable, `${err.name}: ${err.message}`);
      assert.strictEqual(err.reason, 'ERROR_REASON_UNSPECIFIED');
      return true;
    });
  } finally {
    c.close();
  }
});
