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
const net = require('net');
const os = require('os');
const path = require('path');
const { spawn } = require('child_process');
const connbroker = require('..');

const BIN = process.env.CONNBROKER_BIN_DIR || path.join(__dirname, '..', '..', '..', 'bin');
const PLAIN = 'local-plain';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
    s.on('error', reject);
  });
}

async function waitListen(port, proc, log) {
  const t0 = Date.now();
  for (;;) {
    if (proc.exitCode !== null) assert.fail(`connbrokerd exited with ${proc.exitCode}:\n${fs.readFileSync(log, 'utf8').slice(-4000)}`);
    const ok = await new Promise((resolve) => {
      const c = net.connect(port, '127.0.0.1', () => { c.destroy(); resolve(true); });
      c.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() - t0 > 30000) assert.fail(`connbrokerd did not listen on ${port} within 30s`);
    await sleep(50);
  }
}

let dir;
let devstack;
let broker;
let addr;

test.before(async () => {
  for (const b of ['connbrokerd', 'devstack']) {
    if (!fs.existsSync(path.join(BIN, b))) assert.fail(`${path.join(BIN, b)} is missing: run \`make build\` or set CONNBROKER_BIN_DIR`);
  }
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'connbroker-node-inv-'));
  const readyFile = path.join(dir, 'ready.json');
  const log = path.join(dir, 'devstack.log');
  const out = fs.openSync(log, 'w');
  devstack = spawn(path.join(BIN, 'devstack'), ['-dir', path.join(dir, 'state'), '-no-broker', '-listen', `127.0.0.1:${await freePort()}`,
    '-ready-file', readyFile, '-exit-on-stdin-eof'], { stdio: ['pipe', out, out] });
  let ready;
  const t0 = Date.now();
  for (;;) {
    if (devstack.exitCode !== null) assert.fail(`devstack exited with ${devstack.exitCode}:\n${fs.readFileSync(log, 'utf8').slice(-4000)}`);
    try { ready = JSON.parse(fs.readFileSync(readyFile, 'utf8')); break; } catch { /* not yet */ }
    if (Date.now() - t0 > 120000) assert.fail('devstack not ready within 120s');
    await sleep(200);
  }
  const config = path.join(dir, 'config.yaml');
  fs.writeFileSync(config, `${fs.readFileSync(ready.config_path, 'utf8')}\ninventory: {path: ${path.join(dir, 'inventory.db')}}\n`);
  const port = await freePort();
  addr = `127.0.0.1:${port}`;
  const blog = path.join(dir, 'broker.log');
  const bout = fs.openSync(blog, 'a');
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_')));
  Object.assign(env, { AWS_ACCESS_KEY_ID: ready.aws_access_key_id, AWS_SECRET_ACCESS_KEY: ready.aws_secret_access_key, AWS_REGION: ready.aws_region,
    AWS_EC2_METADATA_DISABLED: 'true', AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null' });
  broker = spawn(path.join(BIN, 'connbrokerd'), ['--config', config, '--listen', addr, '--dev'], { stdio: ['ignore', bout, bout], env });
  fs.closeSync(bout);
  await waitListen(port, broker, blog);
});

test.after(async () => {
  if (broker && broker.exitCode === null) broker.kill('SIGKILL');
  if (devstack && devstack.exitCode === null) {
    devstack.stdin.end();
    devstack.kill('SIGTERM');
    await new Promise((r) => devstack.once('exit', r));
  }
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
