// The Node client while the broker is away, against the real connbrokerd
// binary and devstack's MariaDB: SIGKILL, keep down, restart on the same
// address; three replicas on 127.0.0.2..4. Needs the binaries of `make
// build` ($CONNBROKER_BIN_DIR, default ../../bin); fails (never skips)
// without them. Run: `make node-test`, or
// CONNBROKER_BIN_DIR=$PWD/../../bin node --test resilience-test/
'use strict';

const test = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const path = require('path');
const { spawn } = require('child_process');
const connbroker = require('..');

const { sleep, freePort, waitListen, startStack } = require('../test-support/stack');

const PLAIN = 'local-plain';

let stack;
let dir;
let ready;
/** A connbrokerd process on listen (host:port), with devstack's config unless given (test-support/stack.js). */
let broker;

test.before(async () => {
  stack = await startStack('connbroker-node-');
  ({ dir, ready, broker } = stack);
});

test.after(async () => {
  if (stack) await stack.stop();
});

async function login(client, endpoint = PLAIN) {
  const conn = await connbroker.connect(endpoint, { client });
  try {
    const [rows] = await conn.query({ sql: 'SELECT CURRENT_USER()', rowsAsArray: true });
    return rows[0][0];
  } finally {
    await conn.end();
  }
}

function quietLogger() {
  const lines = [];
  return { lines, warn: (m) => lines.push(m) };
}

test('kept params while the broker is killed, fresh after the restart', async () => {
  const b = broker(`127.0.0.1:${await freePort()}`);
  await b.start();
  const logger = quietLogger();
  const c = new connbroker.Client(b.listen, { timeoutMs: 2000, logger });
  try {
    const user = await login(c);
    await b.sigkill();
    for (let i = 0; i < 3; i++) assert.strictEqual(await login(c), user);
    const s = c.resilienceStats();
    assert.strictEqual(s.staleServes, 3);
    assert.deepStrictEqual(s.staleServesByKey, { [`${PLAIN}/mysql2`]: 3 });
    assert.strictEqual(s.outages, 1);
    const warnings = logger.lines.filter((l) => l.includes('serving kept params'));
    assert.strictEqual(warnings.length, 1, logger.lines.join('\n'));
    assert.ok(warnings[0].includes(b.listen));
    await b.start();
    const t0 = Date.now();
    while (c.resilienceStats().outageSince !== null) {
      await login(c);
      assert.ok(Date.now() - t0 < 10000, 'no fresh params 10s after the restart');
      await sleep(20);
    }
  } finally {
    c.close();
    b.kill();
  }
});

test('down past expiry: BrokerUnavailable naming the broker, never a login with expired params', async () => {
  const b = broker(`127.0.0.1:${await freePort()}`);
  await b.start();
  const c = new connbroker.Client(b.listen, { timeoutMs: 2000, staleWithoutExpiryMs: 1000, logger: quietLogger() });
  try {
    await login(c);
    await b.sigkill();
    await sleep(1500);
    await assert.rejects(login(c), (err) => {
      assert.ok(err instanceof connbroker.BrokerUnavailable, `${err.name}: ${err.message}`);
      assert.match(err.message, /expired \d+\.\ds ago/);
      assert.ok(err.message.includes(b.listen));
      assert.ok(err.expiredAgoMs > 0 && err.expiredAgoMs < 10000);
      return true;
    });
    assert.strictEqual(c.resilienceStats().expiredRefusals, 1);
  } finally {
    c.close();
    b.kill();
  }
});

test('three replicas on 127.0.0.2..4, kill one: no login fails', async () => {
  const port = await freePort();
  const rs = [2, 3, 4].map((i) => broker(`127.0.0.${i}:${port}`));
  for (const r of rs) await r.start();
  const c = new connbroker.Client(rs.map((r) => r.listen).join(','), { timeoutMs: 2000, logger: quietLogger() });
  try {
    let n = 0;
    const t0 = Date.now();
    while (Date.now() - t0 < 4000) {
      if (n === 20) await rs[0].sigkill();
      await login(c);
      n++;
      await sleep(20);
    }
    assert.ok(n > 40, `${n} logins`);
    assert.strictEqual(c.resilienceStats().staleServes, 0);
  } finally {
    c.close();
    for (const r of rs) r.kill();
  }
});

test('address lists', () => {
  const { channelTarget } = require('../resilience');
  assert.strictEqual(channelTarget('127.0.0.2:7700, 127.0.0.3:7700'), 'ipv4:127.0.0.2:7700,127.0.0.3:7700');
  assert.strictEqual(channelTarget('[::1]:1,[::1]:2'), 'ipv6:[::1]:1,[::1]:2');
  assert.strictEqual(channelTarget('dns:///b.ns.svc:7700'), 'dns:///b.ns.svc:7700');
  for (const bad of ['127.0.0.1:1,[::1]:2', 'a:1,b:2', ',']) assert.throws(() => channelTarget(bad));
});

/** moto_server ($CONNBROKER_MOTO_SERVER, else the repo's .venv) on a loopback port. */
async function startMoto() {
  const bin = process.env.CONNBROKER_MOTO_SERVER || path.join(__dirname, '..', '..', '..', '.venv', 'bin', 'moto_server');
  if (!fs.existsSync(bin)) assert.fail(`moto_server not found at ${bin}: run \`make venv\` or set CONNBROKER_MOTO_SERVER`);
  const port = await freePort();
  const log = path.join(dir, 'moto.log');
  const out = fs.openSync(log, 'w');
  const proc = spawn(bin, ['-H', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', out, out] });
  fs.closeSync(out);
  await waitListen('127.0.0.1', port, proc, 'moto_server', log);
  return { url: `http://127.0.0.1:${port}`, proc };
}

/** One Secrets Manager call to moto (JSON protocol; moto does not check signatures). */
async function sm(url, action, body) {
  const resp = await fetch(url, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/x-amz-json-1.1',
      'X-Amz-Target': `secretsmanager.${action}`,
      Authorization: 'AWS4-HMAC-SHA256 Credential=AKIDMOTO/20260101/us-west-2/secretsmanager/aws4_request, SignedHeaders=host, Signature=0',
    },
    body: JSON.stringify(body),
  });
  const text = await resp.text();
  if (!resp.ok) assert.fail(`moto ${action}: ${resp.status} ${text}`);
  return JSON.parse(text);
}

/** Runs SQL as root over the private MariaDB's unix socket (named in its my.cnf). */
function rootSQL(sql) {
  const cnf = fs.readFileSync(path.join(path.dirname(ready.config_path), 'mariadb', 'my.cnf'), 'utf8');
  const m = /^\s*socket\s*=\s*(\S+)/m.exec(cnf);
  assert.ok(m, 'no socket in my.cnf');
  const r = require('child_process').spawnSync('mariadb', ['-S', m[1], '-u', 'root', '-e', sql], { encoding: 'utf8' });
  assert.strictEqual(r.status, 0, `mariadb -e: ${r.stderr}`);
}

test('rotation in moto mid-pool: 1045 reported, retried with fresh params, 0 failed logins', async () => {
  const moto = await startMoto();
  const [host, port] = ready.mariadb_addr.split(':');
  const user = 'rot_node';
  const secret = (pw) => JSON.stringify({ username: user, password: pw, engine: 'mariadb', host, port: Number(port) });
  const name = 'rds!db-node-rotation';
  rootSQL(`CREATE USER '${user}'@'%' IDENTIFIED VIA mysql_native_password USING PASSWORD('rot-node-1')`);
  const cfg = path.join(dir, 'rotation.yaml');
  fs.writeFileSync(cfg, `endpoints:\n  rot:\n    host: ${host}\n    port: ${port}\n    user: ${user}\n    auth: password\n    plugin: mysql_native_password\n`
    + `    password: {secretsmanager: "${name}", secret_ttl: 1h}\n    tls: {mode: disabled}\n`);
  await sm(moto.url, 'CreateSecret', { Name: name, SecretString: secret('rot-node-1') });
  const b = broker(`127.0.0.1:${await freePort()}`, { config: cfg, env: {
    AWS_ENDPOINT_URL_SECRETS_MANAGER: moto.url, AWS_ACCESS_KEY_ID: 'AKIDMOTO', AWS_SECRET_ACCESS_KEY: 'moto-secret', AWS_REGION: 'us-west-2' } });
  await b.start();
  const c = new connbroker.Client(b.listen, { timeoutMs: 2000, logger: quietLogger() });
  try {
    let ok = 0;
    const failures = [];
    let stop = false;
    const loop = (async () => {
      while (!stop) {
        try {
          assert.match(await login(c, 'rot'), new RegExp(`^${user}@`));
          ok++;
        } catch (e) {
          failures.push(e);
        }
        await sleep(20);
      }
    })();
    await sleep(500);
    await sm(moto.url, 'PutSecretValue', { SecretId: name, SecretString: secret('rot-node-2') });
    rootSQL(`ALTER USER '${user}'@'%' IDENTIFIED BY 'rot-node-2'`);
    const before = ok;
    await sleep(1000);
    stop = true;
    await loop;
    assert.deepStrictEqual(failures.map((e) => e.message), []);
    assert.ok(ok - before >= 10, `${ok - before} logins after the rotation`);
    const logs = fs.readFileSync(b.log, 'utf8');
    assert.ok(logs.includes('login failure reported'), 'the broker got no ReportLoginFailure');
    assert.ok(!logs.includes('rot-node-1') && !logs.includes('rot-node-2'), 'a password in the broker log');
  } finally {
    c.close();
    b.kill();
    moto.proc.kill('SIGKILL');
    rootSQL(`DROP USER IF EXISTS '${user}'@'%'`);
  }
});
