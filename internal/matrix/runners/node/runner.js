// Compatibility-matrix runner for Node mysql2.
//
// Reads one JSON object on stdin: {"cases": [{"endpoint": E, "params": [P, ...]}]}
// where each P is a ConnectionParams (protojson) fetched fresh from the broker
// for one connection. For each P it connects with nothing but P's hints:
// hints.options, {ca_file} replaced by a file holding tls.caPem (ssl.ca takes
// the PEM contents, as the hint's warning says), the secret under
// hints.secretOption. It runs SELECT CURRENT_USER() and prints
// {"version": V, "results": [{"endpoint", "ok", "user", "error"}]}.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const mysql = require('mysql2/promise');

const CA_FILE = '{ca_file}';
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'connbroker-node-'));

function caFile(params) {
  const pem = (params.tls && params.tls.caPem) || '';
  if (!pem) return '/etc/ssl/certs/ca-certificates.crt';
  const f = path.join(tmp, 'ca.pem');
  fs.writeFileSync(f, pem, { mode: 0o600 });
  return f;
}

// substitute replaces {ca_file} in every string value.
function substitute(v, ca) {
  if (typeof v === 'string') return v.split(CA_FILE).join(ca);
  if (Array.isArray(v)) return v.map((x) => substitute(x, ca));
  if (v && typeof v === 'object') {
    const out = {};
    for (const [k, x] of Object.entries(v)) out[k] = substitute(x, ca);
    return out;
  }
  return v;
}

async function once(params) {
  const hints = params.hints;
  const opts = substitute(hints.options || {}, caFile(params));
  if (opts.ssl && typeof opts.ssl.ca === 'string') opts.ssl.ca = fs.readFileSync(opts.ssl.ca);
  opts[hints.secretOption] = (params.credential && params.credential.secret) || '';
  const conn = await mysql.createConnection(opts);
  try {
    const [rows] = await conn.query({ sql: 'SELECT CURRENT_USER()', rowsAsArray: true });
    return String(rows[0][0]);
  } finally {
    await conn.end();
  }
}

async function main() {
  const req = JSON.parse(fs.readFileSync(0, 'utf8'));
  const out = { version: require('mysql2/package.json').version, results: [] };
  for (const c of req.cases) {
    const res = { endpoint: c.endpoint };
    try {
      for (const p of c.params) res.user = await once(p);
      res.ok = true;
    } catch (e) {
      res.ok = false;
      res.error = `${e.code || e.name}: ${e.message}`.slice(0, 400);
    }
    out.results.push(res);
  }
  fs.rmSync(tmp, { recursive: true, force: true });
  process.stdout.write(JSON.stringify(out));
}

main().catch((e) => {
  process.stderr.write(String(e && e.stack ? e.stack : e));
  process.exit(2);
});
