// A real Node application for the preflight proof: params from the broker
// through clients/node (CONNBROKER_ADDR), one mysql2 login, and one JSON
// line with the ClientEnvironment a Node helper reports (driver mysql2 and
// its installed version) and the login's outcome.
//
// Usage: CONNBROKER_ADDR=host:port node app.js CLIENT_NODE_DIR ENDPOINT
'use strict';

const path = require('node:path');

async function main() {
  const [dir, endpoint] = process.argv.slice(2);
  const connbroker = require(dir);
  const version = require(path.join(dir, 'node_modules', 'mysql2', 'package.json')).version;
  const out = {
    env: { driver: 'mysql2', packages: [{ name: 'mysql2', version }], runtime: `node ${process.version}`, client_time: new Date().toISOString() },
  };
  try {
    const conn = await connbroker.connect(endpoint);
    try {
      await conn.query('SELECT CURRENT_USER()');
    } finally {
      await conn.end();
    }
    out.ok = true;
  } catch (e) {
    out.ok = false;
    out.error = `${e.code || e.name}: ${e.message}`;
  }
  console.log(JSON.stringify(out));
}

main().then(() => process.exit(0), (e) => { console.error(e); process.exit(2); });
