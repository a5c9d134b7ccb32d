// The environment report for the broker's inventory: this process's driver
// (mysql2) and its version, the Node.js runtime and the TLS environment
// variables that are set. Client.getConnectionParams sends it with the first
// request per process, endpoint and driver, and again only when it changes
// (a variable set or changed); the broker records it (ListInventory,
// `connbroker inventory`) so preflight can say which applications a change
// would break. Nothing else about the process is sent.
'use strict';

/** Environment variables reported when set (the broker keeps only allowlisted ones). */
const ENV_VARS = ['SSL_CERT_FILE', 'SSL_CERT_DIR'];

let mysql2Version;
function driverVersion() {
  if (mysql2Version === undefined) {
    try {
      mysql2Version = require('mysql2/package.json').version;
    } catch {
      mysql2Version = '';
    }
  }
  return mysql2Version;
}

/** The environment message (a ClientEnvironment) and a key that changes with it. */
function current(driver) {
  const env = {};
  for (const k of ENV_VARS) if (process.env[k] !== undefined) env[k] = process.env[k];
  const key = JSON.stringify(env);
  return {
    key,
    message: {
      driver,
      runtime: `Node.js ${process.version}`,
      packages: driver === 'mysql2' ? [{ name: 'mysql2', version: driverVersion() }] : [],
      env,
    },
  };
}

/** What this process reported, per `${endpoint}/${driver}`: the key. */
const sent = new Map();

/**
 * report returns the ClientEnvironment to send with a request for endpoint
 * and driver, or null when the same one was sent already, and the key to
 * pass to accepted once the broker answered.
 */
function report(endpoint, driver) {
  const { key, message } = current(driver);
  return { message: sent.get(`${endpoint}/${driver}`) === key ? null : message, key };
}

/** accepted records that the broker answered a request carrying the report. */
function accepted(endpoint, driver, key) {
  sent.set(`${endpoint}/${driver}`, key);
}

/** reset forgets what was sent (tests). */
function reset() {
  sent.clear();
}

module.exports = { ENV_VARS, report, accepted, reset };
