// connbroker for Node: ask the broker for an endpoint's params and connect
// with mysql2 using nothing but its hints.
//
//   const connbroker = require('connbroker');
//   const conn = await connbroker.connect('orders');           // mysql2/promise Connection
//   const [rows] = await conn.query('SELECT CURRENT_USER()');
//
// Every connect() asks the broker again, so a fresh IAM token is used for
// every new connection. The broker address is CONNBROKER_ADDR or
// 127.0.0.1:7700.
'use strict';

const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

/** The driver name asked of the broker. */
const DRIVER = 'mysql2';
/** Default broker address when neither an argument nor CONNBROKER_ADDR is set. */
const DEFAULT_ADDRESS = '127.0.0.1:7700';
const CA_FILE = '{ca_file}';
const PROTO = path.join(__dirname, '..', '..', 'proto', 'connbroker', 'v1', 'broker.proto');

let serviceCtor;
function service() {
  if (!serviceCtor) {
    const def = protoLoader.loadSync(PROTO, { keepCase: false, longs: String, enums: String, defaults: true, oneofs: true });
    serviceCtor = grpc.loadPackageDefinition(def).connbroker.v1.BrokerService;
  }
  return serviceCtor;
}

/** BrokerError is any failed broker call; code is the gRPC status code. */
class BrokerError extends Error {
  constructor(message, code) {
    super(message);
    this.name = 'BrokerError';
    this.code = code;
  }
}

/** A client of one broker. */
class Client {
  /**
   * @param {string} [address] host:port; CONNBROKER_ADDR or 127.0.0.1:7700 by default.
   * @param {{timeoutMs?: number, credentials?: grpc.ChannelCredentials}} [opts]
   */
  constructor(address, opts = {}) {
    this.address = address || process.env.CONNBROKER_ADDR || DEFAULT_ADDRESS;
    this.timeoutMs = opts.timeoutMs || 5000;
    const Svc = service();
    this.stub = new Svc(this.address, opts.credentials || grpc.credentials.createInsecure());
  }

  /** Resolves to the ConnectionParams for endpoint and driver. */
  getConnectionParams(endpoint, driver = DRIVER) {
    return new Promise((resolve, reject) => {
      this.stub.getConnectionParams({ endpoint, driver }, { deadline: Date.now() + this.timeoutMs }, (err, resp) => {
        if (err) {
          reject(new BrokerError(`GetConnectionParams(endpoint=${endpoint}, driver=${driver}) at ${this.address}: ${err.details || err.message}`, err.code));
          return;
        }
        resolve(resp.params);
      });
    });
  }

  /** Closes the channel. */
  close() {
    this.stub.close();
  }
}

/** structToObject converts a decoded google.protobuf.Struct into a plain object. */
function structToObject(s) {
  const out = {};
  for (const [k, v] of Object.entries((s && s.fields) || {})) out[k] = valueToJS(v);
  return out;
}

function valueToJS(v) {
  switch (v.kind) {
    case 'stringValue': return v.stringValue;
    case 'numberValue': return v.numberValue;
    case 'boolValue': return v.boolValue;
    case 'structValue': return structToObject(v.structValue);
    case 'listValue': return (v.listValue.values || []).map(valueToJS);
    default: return null;
  }
}

/**
 * mysql2Options turns params for the mysql2 driver into mysql2 connection
 * options: the hint options, ssl.ca as the PEM contents of tls.caPem (Node's
 * CAs when the broker sends none), the secret under hints.secretOption.
 * The result holds the secret: never log it.
 */
function mysql2Options(params, overrides = {}) {
  const h = params.hints;
  if (!h || h.driver !== DRIVER) {
    throw new Error(`params for endpoint ${params.endpoint} carry hints for driver ${h && h.driver}, want ${DRIVER}`);
  }
  const opts = structToObject(h.options);
  if (opts.ssl && opts.ssl.ca === CA_FILE) {
    if (params.tls && params.tls.caPem) opts.ssl.ca = params.tls.caPem;
    else delete opts.ssl.ca; // Node's default CAs
  }
  opts[h.secretOption] = (params.credential && params.credential.secret) || '';
  Object.assign(opts, overrides);
  const clear = (params.credential && params.credential.kind === 'CREDENTIAL_KIND_IAM_TOKEN') || params.authPlugin === 'mysql_clear_password';
  if ((clear || (params.tls && params.tls.required)) && !opts.ssl) {
    throw new Error(`refusing to connect to endpoint ${params.endpoint}: it needs TLS but the options have no ssl`);
  }
  if (clear && opts.ssl.rejectUnauthorized === false) {
    throw new Error(`refusing to send a clear-text secret to endpoint ${params.endpoint} without verifying the server`);
  }
  return opts;
}

let defaultClient;

/**
 * connect opens a mysql2/promise connection to endpoint with fresh params.
 * @param {string} endpoint
 * @param {{client?: Client, overrides?: object}} [opts]
 */
async function connect(endpoint, opts = {}) {
  const client = opts.client || (defaultClient ||= new Client());
  const params = await client.getConnectionParams(endpoint, DRIVER);
  const mysql = require('mysql2/promise');
  return mysql.createConnection(mysql2Options(params, opts.overrides));
}

module.exports = { BrokerError, Client, DEFAULT_ADDRESS, DRIVER, connect, mysql2Options, structToObject };
