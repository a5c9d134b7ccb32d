// Compatibility-matrix runner for Node mysql2, through clients/node.
//
// Reads one JSON object on stdin: {"broker": ADDR, "cases": [{"endpoint": E,
// "connects": N, "overrides": {...} (optional)}]}. For each case it connects
// N times with connbroker.connect(E) (fresh params from the broker each
// time, nothing else but the case's overrides of the hint options, used to
// take an opt-in away), runs SELECT CURRENT_USER() and prints {"version": V, "results":
// [{"endpoint", "ok", "user", "error"}]}.
'use strict';

const fs = require('fs');
const path = require('path');

const clientDir = path.join(__dirname, '..', '..', '..', '..', 'clients', 'node');
const connbroker = require(clientDir);

async function main() {
  const req = JSON.parse(fs.readFileSync(0, 'utf8'));
  const client = new connbroker.Client(req.broker, { timeoutMs: 10000 });
  // The package comes from the broker's driver list, not a table here.
  const info = (await client.listDrivers()).find((d) => d.name === connbroker.DRIVER);
  if (!info) throw new Error(`the broker does not list driver ${connbroker.DRIVER}`);
  const version = require(require.resolve(`${info.environment.package}/package.json`, { paths: [clientDir] })).version;
  const out = { version, results: [] };
  for (const c of req.cases) {
    const res = { endpoint: c.endpoint };
    try {
      for (let i = 0; i < c.connects; i++) {
        const conn = await connbroker.connect(c.endpoint, { client, overrides: c.overrides });
        try {
          const [rows] = await conn.query({ sql: 'SELECT CURRENT_USER()', rowsAsArray: true });
          res.user = String(rows[0][0]);
        } finally {
          await conn.end();
        }
      }
      res.ok = true;
    } catch (e) {
      res.ok = false;
      res.error = `${e.code || e.name}: ${e.message}`.slice(0, 400);
    }
    out.results.push(res);
  }
  client.close();
  process.stdout.write(JSON.stringify(out));
}

main().catch((e) => {
  process.stderr.write(String(e && e.stack ? e.stack : e));
  process.exit(2);
});
