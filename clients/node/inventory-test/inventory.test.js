// The Node client's environment report reaches the broker's inventory:
// against the real connbrokerd binary (with an SQLite inventory) and
// devstack's MariaDB, the first getConnectionParams per process and
// endpoint carries mysql2's version and the runtime, repeats do not, and a
// changed SSL_CERT_FILE is reported again. Needs the binaries of `make
// build` ($CONNBROKER_BIN_DIR, default ../../bin); fails (never skips)
// without them. Run: `make node-test`, or
// CONNBROKER_BIN_DIR=$PWD/../../bin node --test inventory-test/
'use strict';

const test = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const path = require('path');
const connbroker = require('..');
const { sleep, freePort, startStack } = require('../test-support/stack');

const PLAIN = 'local-plain';

let stack;
let addr;

test.before(async () => {
  stack = await startStack('connbroker-node-inv-');
  const config = path.join(stack.dir, 'config.yaml');
  fs.writeFileSync(config, `${fs.readFileSync(stack.ready.config_path, 'utf8')}\ninventory: {path: ${path.join(stack.dir, 'inventory.db')}}\n`);
  addr = `127.0.0.1:${await freePort()}`;
  await stack.broker(addr, { config }).start();
});

test.after(async () => {
  if (stack) await stack.stop();
});

async function records(c, want) {
  const t0 = Date.now();
  for (;;) {
    const resp = await c.listInventory(PLAIN);
    assert.ok(resp.store.enabled, 'the broker keeps an inventory');
    if (resp.records.length >= want || Date.now() - t0 > 10000) return resp.records;
    await sleep(100);
  }
}

test('the first request per endpoint reports, repeats do not, a change does', async () => {
  delete process.env.SSL_CERT_FILE;
  const c = new connbroker.Client(addr, { timeoutMs: 5000 });
  try {
    for (let i = 0; i < 3; i++) {
      const conn = await connbroker.connect(PLAIN, { client: c });
      await conn.end();
    }
    let recs = await records(c, 1);
    assert.strictEqual(recs.length, 1, JSON.stringify(recs));
    const r = recs[0];
    assert.strictEqual(r.count, '1'); // int64 as a string (longs: String)
    assert.strictEqual(r.environment.driver, 'mysql2');
    assert.match(r.environment.runtime, /^Node\.js v\d+/);
    assert.deepStrictEqual(r.environment.packages.map((p) => [p.name, p.version]), [['mysql2', require('mysql2/package.json').version]]);

    process.env.SSL_CERT_FILE = '/etc/ssl/certs/ca-certificates.crt';
    await c.getConnectionParams(PLAIN);
    await c.getConnectionParams(PLAIN);
    recs = await records(c, 2);
    assert.strictEqual(recs.length, 2, JSON.stringify(recs));
    const changed = recs.filter((x) => x.environment.env.SSL_CERT_FILE === '/etc/ssl/certs/ca-certificates.crt');
    assert.strictEqual(changed.length, 1);
    assert.strictEqual(changed[0].count, '1');
  } finally {
    delete process.env.SSL_CERT_FILE;
    c.close();
  }
});
