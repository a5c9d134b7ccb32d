// The real processes the Node client's integration tests run: devstack
// (MariaDB and the broker config, without a broker) and connbrokerd
// processes on addresses of the test's choosing. Needs the binaries of `make
// build` ($CONNBROKER_BIN_DIR, default ../../bin); fails (never skips)
// without them. Every process is stopped by the test's after hook.
'use strict';

const assert = require('node:assert');
const fs = require('fs');
const net = require('net');
const os = require('os');
const path = require('path');
const { spawn, execFileSync } = require('child_process');

const BIN = process.env.CONNBROKER_BIN_DIR || path.join(__dirname, '..', '..', '..', 'bin');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Resolves to a free TCP port on 127.0.0.1. */
function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
    s.on('error', reject);
  });
}

/** Waits until host:port accepts connections; fails when proc exits or after 30s. */
async function waitListen(host, port, proc, what, log) {
  const t0 = Date.now();
  for (;;) {
    if (proc.exitCode !== null) assert.fail(`${what} exited with ${proc.exitCode}:\n${fs.readFileSync(log, 'utf8').slice(-4000)}`);
    const ok = await new Promise((resolve) => {
      const c = net.connect(port, host, () => { c.destroy(); resolve(true); });
      c.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() - t0 > 30000) assert.fail(`${what} did not listen on ${host}:${port} within 30s`);
    await sleep(50);
  }
}

/**
 * startStack runs devstack -no-broker in a new temp directory and resolves
 * to {dir, ready (devstack's ready file), broker(listen, {config, env}),
 * stop()}. broker() describes a connbrokerd process (devstack's config
 * unless given) with start(), sigkill() and kill(); stop() kills every one
 * and devstack.
 */
async function startStack(prefix) {
  for (const b of ['connbrokerd', 'devstack']) {
    if (!fs.existsSync(path.join(BIN, b))) assert.fail(`${path.join(BIN, b)} is missing: run \`make build\` or set CONNBROKER_BIN_DIR`);
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const readyFile = path.join(dir, 'ready.json');
  const log = path.join(dir, 'devstack.log');
  const out = fs.openSync(log, 'w');
  const devstack = spawn(path.join(BIN, 'devstack'), ['-dir', path.join(dir, 'state'), '-no-broker', '-listen', `127.0.0.1:${await freePort()}`,
    '-ready-file', readyFile, '-exit-on-stdin-eof'], { stdio: ['pipe', out, out] });
  let ready;
  const t0 = Date.now();
  for (;;) {
    if (devstack.exitCode !== null) assert.fail(`devstack exited with ${devstack.exitCode}:\n${fs.readFileSync(log, 'utf8').slice(-4000)}`);
    try { ready = JSON.parse(fs.readFileSync(readyFile, 'utf8')); break; } catch { /* not yet */ }
    if (Date.now() - t0 > 120000) assert.fail('devstack not ready within 120s');
    await sleep(200);
  }
  const brokers = [];
  function broker(listen, { config = ready.config_path, env: extra = {} } = {}) {
    const [host, port] = [listen.slice(0, listen.lastIndexOf(':')), Number(listen.slice(listen.lastIndexOf(':') + 1))];
    const blog = path.join(dir, `broker-${listen.replace(/[:.]/g, '_')}.log`);
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_')));
    Object.assign(env, { AWS_ACCESS_KEY_ID: ready.aws_access_key_id, AWS_SECRET_ACCESS_KEY: ready.aws_secret_access_key, AWS_REGION: ready.aws_region,
      AWS_EC2_METADATA_DISABLED: 'true', AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null' }, extra);
    const b = {
      listen,
      log: blog,
      proc: null,
      async start() {
        const bout = fs.openSync(blog, 'a');
        this.proc = spawn(path.join(BIN, 'connbrokerd'), ['--config', config, '--listen', listen, '--dev'], { stdio: ['ignore', bout, bout], env });
        fs.closeSync(bout);
        await waitListen(host, port, this.proc, `connbrokerd ${listen}`, blog);
      },
      async sigkill() {
        const exited = new Promise((r) => this.proc.once('exit', r));
        this.proc.kill('SIGKILL');
        await exited;
      },
      kill() { if (this.proc && this.proc.exitCode === null) this.proc.kill('SIGKILL'); },
    };
    brokers.push(b);
    return b;
  }
  async function stop() {
    for (const b of brokers) b.kill();
    if (devstack.exitCode === null) {
      devstack.stdin.end();
      devstack.kill('SIGTERM');
      await new Promise((r) => devstack.once('exit', r));
    }
  }
  return { dir, ready, broker, stop };
}

/**
 * brokerBinary returns connbrokerd from CONNBROKER_BIN_DIR, or builds it
 * into dir with `go build` when that is unset.
 */
function brokerBinary(dir) {
  if (process.env.CONNBROKER_BIN_DIR) {
    const bin = path.join(process.env.CONNBROKER_BIN_DIR, 'connbrokerd');
    fs.accessSync(bin, fs.constants.X_OK);
    return bin;
  }
  const bin = path.join(dir, 'connbrokerd');
  execFileSync('go', ['build', '-o', bin, './cmd/connbrokerd'], { cwd: path.join(__dirname, '..', '..', '..'), stdio: 'inherit', timeout: 900000 });
  return bin;
}

/**
 * startUnixBroker runs connbrokerd in a new temp directory (prefix) with
 * the config config(dir, sock) returns, which must listen on the Unix
 * socket sock (where the broker identifies this process as uid:N), and
 * resolves to its address once it serves. The test's after hook stops it
 * and removes the directory.
 */
async function startUnixBroker(t, prefix, config) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const sock = path.join(dir, 'b.sock');
  fs.writeFileSync(path.join(dir, 'config.yaml'), config(dir, sock));
  const log = [];
  const proc = spawn(brokerBinary(dir), ['--config', path.join(dir, 'config.yaml')], {
    stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: '/usr/bin:/bin', AWS_EC2_METADATA_DISABLED: 'true' },
  });
  proc.stdout.on('data', (b) => log.push(b));
  proc.stderr.on('data', (b) => log.push(b));
  t.after(() => { proc.kill('SIGTERM'); fs.rmSync(dir, { recursive: true, force: true }); });
  const deadline = Date.now() + 30000;
  while (!(Buffer.concat(log).includes('connbrokerd serving') && fs.existsSync(sock))) {
    if (proc.exitCode !== null || Date.now() > deadline) {
      assert.fail(`connbrokerd did not start (exit ${proc.exitCode}):\n${Buffer.concat(log)}`);
    }
    await sleep(50);
  }
  return `unix://${sock}`;
}

module.exports = { BIN, sleep, freePort, waitListen, startStack, startUnixBroker };
