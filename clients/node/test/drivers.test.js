// listDrivers against a real connbrokerd started here: the list is the
// broker's (the Go registry, broker/driver), and every name and alias in it
// is one GetConnectionParams accepts for that driver. connbrokerd comes from
// CONNBROKER_BIN_DIR, or is built with `go build`.
'use strict';

const test = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const path = require('node:path');
const connbroker = require('..');
const { startUnixBroker } = require('../test-support/stack');

function startBroker(t) {
  return startUnixBroker(t, 'cb-node-drivers-', (dir, sock) => {
    fs.writeFileSync(path.join(dir, 'pw'), 'node-drivers-pw', { mode: 0o600 });
    return `listen: 127.0.0.1:0
unix: {path: ${sock}}
policy:
  - caller: 'uid:${process.getuid()}'
    endpoints: ['*']
endpoints:
  app:
    host: 127.0.0.1
    user: app
    auth: password
    password: {file: ${path.join(dir, 'pw')}}
    tls: {mode: disabled}
`;
  });
}

test('listDrivers returns the broker\'s drivers, each name and alias accepted for it', async (t) => {
  const c = new connbroker.Client(await startBroker(t), { timeoutMs: 10000 });
  t.after(() => c.close());
  const drivers = await c.listDrivers();
  const names = drivers.map((d) => d.name);
  assert.deepStrictEqual(names, [...names].sort(), 'sorted by name');
  for (const want of ['mysql2', 'pymysql', 'go-sql-driver', 'connector-j', 'sqlalchemy+pymysql']) {
    assert.ok(names.includes(want), `${want} missing from ${names}`);
  }
  const byName = Object.fromEntries(drivers.map((d) => [d.name, d]));
  const m = byName.mysql2;
  assert.strictEqual(m.runtime, 'node');
  assert.strictEqual(m.environment.package, 'mysql2');
  assert.strictEqual(byName['sqlalchemy+pymysql'].wraps, 'pymysql');
  assert.ok(byName.pymysql.aliases.includes('PyMySQL'), `pymysql aliases: ${byName.pymysql.aliases}`);
  for (const d of drivers) {
    assert.ok(d.displayName, `${d.name} has no display name`);
    assert.ok(Array.isArray(d.environment.envVars) && Array.isArray(d.variants) && Number.isInteger(d.environment.guessOrder));
    for (const alias of [d.name, ...d.aliases]) {
      const p = await c.getConnectionParams('app', alias);
      assert.strictEqual(p.hints.driver, d.name, `alias ${alias}`);
    }
  }
  await assert.rejects(c.getConnectionParams('app', 'not-a-driver'), connbroker.InvalidRequest);
});
