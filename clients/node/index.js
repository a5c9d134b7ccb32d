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
const resilience = require('./resilience');

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

/**
 * BrokerUnavailable: the broker did not answer (UNAVAILABLE, deadline) and
 * no usable kept params were there; expiredAgoMs says how long ago the kept
 * ones expired (null when there were none). Retry with backoff.
 */
class BrokerUnavailable extends BrokerError {
  constructor(message, code, expiredAgoMs = null) {
    super(message, code);
    this.name = 'BrokerUnavailable';
    this.expiredAgoMs = expiredAgoMs;
  }
}

/** A client of one broker, or of several replicas. */
class Client {
  /**
   * @param {string} [address] host:port, a list of IP:port separated by
   *   commas, or a gRPC target such as dns:///connbroker.ns.svc:7700 (calls
   *   go round_robin; UNAVAILABLE is retried with backoff and jitter);
   *   CONNBROKER_ADDR or 127.0.0.1:7700 by default.
   * @param {{timeoutMs?: number, credentials?: grpc.ChannelCredentials, serveStale?: boolean,
   *   staleMarginMs?: number, staleWithoutExpiryMs?: number, logger?: {warn: Function}}} [opts]
   *   serveStale (default true) keeps the last params per (endpoint, driver)
   *   and serves them while the broker is away, until the credential's
   *   expiresAt minus staleMarginMs (60 s); staleWithoutExpiryMs (15 min)
   *   bounds params without expiresAt.
   */
  constructor(address, opts = {}) {
    this.address = address || process.env.CONNBROKER_ADDR || DEFAULT_ADDRESS;
    this.timeoutMs = opts.timeoutMs || 5000;
    this.kept = opts.serveStale === false ? null
      : new resilience.Kept({ marginMs: opts.staleMarginMs, withoutExpiryMs: opts.staleWithoutExpiryMs, logger: opts.logger || console });
    const Svc = service();
    this.stub = new Svc(resilience.channelTarget(this.address), opts.credentials || grpc.credentials.createInsecure(),
      resilience.channelOptions(this.address));
  }

  /**
   * Resolves to the ConnectionParams for endpoint and driver; while the
   * broker is away, to the kept ones (counted in resilienceStats()).
   * Rejects with BrokerUnavailable when there are none usable.
   */
  getConnectionParams(endpoint, driver = DRIVER) {
    const op = `GetConnectionParams(endpoint=${endpoint}, driver=${driver}) at ${this.address}`;
    const key = `${endpoint}/${driver}`;
    const kept = this.kept;
    const timeout = kept ? kept.callTimeout(this.timeoutMs) : this.timeoutMs;
    return new Promise((resolve, reject) => {
      this.stub.getConnectionParams({ endpoint, driver }, { deadline: Date.now() + timeout }, (err, resp) => {
        if (!err) {
          if (kept) kept.keep(key, resp.params, this.address);
          resolve(resp.params);
          return;
        }
        const why = err.details || err.message;
        if (err.code === resilience.UNAVAILABLE || err.code === resilience.DEADLINE_EXCEEDED) {
          if (!kept) {
            reject(new BrokerUnavailable(`${op}: broker unavailable: ${why}`, err.code));
            return;
          }
          const r = kept.serve(key, this.address, why);
          if (r.params) resolve(r.params);
          else if (r.expiredAgoMs === null) reject(new BrokerUnavailable(`${op}: broker unavailable: ${why}`, err.code));
          else {
            const basis = r.exp === null ? 'the credential has no expiresAt; kept params are served for a fixed time after the fetch'
              : `credential expires_at ${new Date(r.exp).toISOString()} minus the ${kept.marginMs / 1000}s safety margin`;
            reject(new BrokerUnavailable(`${op}: broker unavailable: ${why}; the last params for this endpoint expired ${(r.expiredAgoMs / 1000).toFixed(1)}s ago (${basis}), so none can be served until broker ${this.address} answers again`, err.code, r.expiredAgoMs));
          }
          return;
        }
        if (kept && resilience.FORGET.has(err.code)) kept.forget(key);
        reject(new BrokerError(`${op}: ${why}`, err.code));
      });
    });
  }

  /**
   * reportLoginFailure tells the broker a login with its params was refused
   * (mysqlErrno 1045 or 1698): the kept params are dropped and the broker
   * re-reads the credential source (a rotation may have happened). Resolves
   * to {reread, changed}.
   */
  reportLoginFailure(endpoint, driver, mysqlErrno) {
    if (this.kept) this.kept.forget(`${endpoint}/${driver}`);
    return new Promise((resolve, reject) => {
      this.stub.reportLoginFailure({ endpoint, driver, mysqlErrno }, { deadline: Date.now() + this.timeoutMs }, (err, resp) => {
        if (err) reject(new BrokerError(`ReportLoginFailure(endpoint=${endpoint}, driver=${driver}, mysql_errno=${mysqlErrno}) at ${this.address}: ${err.details || err.message}`, err.code));
        else resolve(resp);
      });
    });
  }

  /** Counters of stale serving, for export as metrics (zeros with serveStale: false). */
  resilienceStats() {
    return this.kept ? this.kept.stats() : { staleServes: 0, staleServesByKey: {}, outages: 0, outageSince: null, expiredRefusals: 0 };
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
 * connect opens a mysql2/promise connection to endpoint with fresh params;
 * a login refused with 1045/1698 is reported to the broker and tried once
 * more with fresh params.
 * @param {string} endpoint
 * @param {{client?: Client, overrides?: object}} [opts]
 */
async function connect(endpoint, opts = {}) {
  const client = opts.client || (defaultClient ||= new Client());
  const mysql = require('mysql2/promise');
  const params = await client.getConnectionParams(endpoint, DRIVER);
  try {
    return await mysql.createConnection(mysql2Options(params, opts.overrides));
  } catch (err) {
    // 1045/1698: a rotation may have happened. Report it (the broker
    // re-reads the source) and try once more with fresh params.
    if (err.errno !== 1045 && err.errno !== 1698) throw err;
    try {
      await client.reportLoginFailure(endpoint, DRIVER, err.errno);
    } catch {
      throw err;
    }
    const fresh = await client.getConnectionParams(endpoint, DRIVER);
    return mysql.createConnection(mysql2Options(fresh, opts.overrides));
  }
}

module.exports = { BrokerError, BrokerUnavailable, Client, DEFAULT_ADDRESS, DRIVER, connect, mysql2Options, structToObject };
