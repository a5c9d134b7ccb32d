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
const { CAStore, VIEW_UNKNOWN } = require('./compact');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const resilience = require('./resilience');
const inventoryReport = require('./report');

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

/**
 * BrokerError is any failed broker call: code is the gRPC status code,
 * reason the broker's ErrorReason name (e.g. 'ERROR_REASON_RATE_LIMITED';
 * 'ERROR_REASON_UNSPECIFIED' without one) and metadata the ErrorInfo
 * metadata (e.g. {endpoint: 'orders'}). Calls reject with the subclass of
 * the reason, or of the code when there is none.
 */
class BrokerError extends Error {
  constructor(message, code, reason = 'ERROR_REASON_UNSPECIFIED', metadata = {}) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    this.reason = reason;
    this.metadata = metadata;
  }
}
/** No endpoint of that name (ERROR_REASON_ENDPOINT_NOT_FOUND). Do not retry. */
class EndpointNotFound extends BrokerError {}
/** The policy refuses this caller the endpoint (ERROR_REASON_PERMISSION_DENIED). Do not retry. */
class PermissionDenied extends BrokerError {}
/** The client certificate carries no usable identity (ERROR_REASON_UNAUTHENTICATED). Do not retry. */
class Unauthenticated extends PermissionDenied {}
/** A request field is wrong, e.g. an unknown driver; metadata.field names it (ERROR_REASON_INVALID_ARGUMENT). */
class InvalidRequest extends BrokerError {}
/** Credentials asked for faster than limits.issue_rate (ERROR_REASON_RATE_LIMITED). Retry after a back-off. */
class RateLimited extends BrokerError {}
/**
 * The broker cannot be reached or did not answer in time, and no usable
 * kept params were there; expiredAgoMs says how long ago the kept ones
 * expired (null when there were none). Retry with backoff.
 */
class BrokerUnavailable extends BrokerError {
  constructor(message, code, reason = 'ERROR_REASON_UNSPECIFIED', metadata = {}, expiredAgoMs = null) {
    super(message, code, reason, metadata);
    this.expiredAgoMs = expiredAgoMs;
  }
}
/** The broker's credential source failed, no valid cached credential (ERROR_REASON_CREDENTIAL_UNAVAILABLE). Retry with backoff. */
class CredentialUnavailable extends BrokerUnavailable {}
/** An auth: auto endpoint could not be resolved (ERROR_REASON_AUTH_UNDECIDED). Fix the broker's configuration. */
class AuthUndecided extends BrokerError {}
/** The broker keeps no inventory, so it cannot preflight (ERROR_REASON_INVENTORY_OFF). Do not retry. */
class InventoryOff extends BrokerError {}
/** A broker bug (ERROR_REASON_INTERNAL); its log has the details. */
class BrokerInternalError extends BrokerError {}

const REASON_CLASSES = {
  ERROR_REASON_ENDPOINT_NOT_FOUND: EndpointNotFound,
  ERROR_REASON_INVALID_ARGUMENT: InvalidRequest,
  ERROR_REASON_CREDENTIAL_UNAVAILABLE: CredentialUnavailable,
  ERROR_REASON_INTERNAL: BrokerInternalError,
  ERROR_REASON_AUTH_UNDECIDED: AuthUndecided,
  ERROR_REASON_PERMISSION_DENIED: PermissionDenied,
  ERROR_REASON_RATE_LIMITED: RateLimited,
  ERROR_REASON_UNAUTHENTICATED: Unauthenticated,
  ERROR_REASON_AUDIT_UNAVAILABLE: BrokerUnavailable,
  ERROR_REASON_INVENTORY_OFF: InventoryOff,
};

// For errors without a connbroker ErrorInfo (a broker that cannot be reached).
// RESOURCE_EXHAUSTED is not among them: without the broker's reason it is a
// message size limit, not a rate limit.
const CODE_CLASSES = {
  [grpc.status.NOT_FOUND]: EndpointNotFound,
  [grpc.status.PERMISSION_DENIED]: PermissionDenied,
  [grpc.status.UNAUTHENTICATED]: Unauthenticated,
  [grpc.status.INVALID_ARGUMENT]: InvalidRequest,
  [grpc.status.UNAVAILABLE]: BrokerUnavailable,
  [grpc.status.DEADLINE_EXCEEDED]: BrokerUnavailable,
  [grpc.status.INTERNAL]: BrokerInternalError,
};

/** The ErrorInfo domain of the broker's errors. */
const ERROR_DOMAIN = 'connbroker.dev';

// protoFields splits protobuf wire bytes into [field number, value] pairs:
// a Buffer for length-delimited fields, a number for varints; fixed-width
// fields are skipped. google.rpc.Status and ErrorInfo are decoded with it so
// the package needs no copy of the googleapis protos.
function protoFields(buf) {
  const out = [];
  let i = 0;
  const varint = () => {
    let v = 0;
    for (let shift = 0; i < buf.length; shift += 7) {
      const b = buf[i++];
      v += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return v;
    }
    throw new Error('truncated varint');
  };
  while (i < buf.length) {
    const key = varint();
    const field = Math.floor(key / 8);
    switch (key & 7) {
      case 0: out.push([field, varint()]); break;
      case 1: i += 8; break;
      case 2: { const n = varint(); if (i + n > buf.length) throw new Error('truncated field'); out.push([field, buf.subarray(i, i + n)]); i += n; break; }
      case 5: i += 4; break;
      default: throw new Error(`wire type ${key & 7}`);
    }
  }
  return out;
}

/**
 * errorInfo returns {reason, metadata} from a gRPC error's
 * grpc-status-details-bin (google.rpc.Status with a connbroker ErrorInfo),
 * or null when there is none.
 */
function errorInfo(err) {
  const details = err && err.metadata && typeof err.metadata.get === 'function' ? err.metadata.get('grpc-status-details-bin') : [];
  for (const raw of details) {
    try {
      for (const [f, any] of protoFields(Buffer.from(raw))) {
        if (f !== 3) continue; // Status.details: google.protobuf.Any
        const a = protoFields(any);
        const typeUrl = String(a.find(([n]) => n === 1)?.[1] ?? '');
        const value = a.find(([n]) => n === 2)?.[1];
        if (!typeUrl.endsWith('/google.rpc.ErrorInfo') || !value) continue;
        let reason = '', domain = '';
        const metadata = {};
        for (const [n, v] of protoFields(value)) {
          if (n === 1) reason = v.toString('utf8');
          else if (n === 2) domain = v.toString('utf8');
          else if (n === 3) {
            const e = protoFields(v);
            metadata[String(e.find(([k]) => k === 1)?.[1] ?? '')] = String(e.find(([k]) => k === 2)?.[1] ?? '');
          }
        }
        if (domain === ERROR_DOMAIN) return { reason, metadata };
      }
    } catch (_) {
      // a malformed detail is no reason
    }
  }
  return null;
}

/**
 * fromRpcError turns a grpc-js error into the BrokerError subclass of its
 * ErrorReason (or, without one, of its code); message names the operation.
 */
function fromRpcError(err, message) {
  const info = errorInfo(err);
  const Cls = (info && REASON_CLASSES[info.reason]) || CODE_CLASSES[err.code] || BrokerError;
  const reason = info && REASON_CLASSES[info.reason] ? info.reason : 'ERROR_REASON_UNSPECIFIED';
  return new Cls(message, err.code, reason, info ? info.metadata : {});
}

/** A client of one broker, or of several replicas. */
class Client {
  /**
   * @param {string} [address] host:port, a list of IP:port separated by
   *   commas, or a gRPC target such as dns:///connbroker.ns.svc:7700 (calls
   *   go round_robin; UNAVAILABLE is retried with backoff and jitter);
   *   CONNBROKER_ADDR or 127.0.0.1:7700 by default.
   * @param {{timeoutMs?: number, credentials?: grpc.ChannelCredentials, serveStale?: boolean,
   *   staleMarginMs?: number, staleWithoutExpiryMs?: number, logger?: {warn: Function}, reportEnvironment?: boolean}} [opts]
   *   serveStale (default true) keeps the last params per (endpoint, driver)
   *   and serves them while the broker is away, until the credential's
   *   expiresAt minus staleMarginMs (60 s); staleWithoutExpiryMs (15 min)
   *   bounds params without expiresAt. reportEnvironment (default true)
   *   sends this process's environment with the first request per
   *   endpoint and driver, for the broker's inventory (report.js).
   */
  constructor(address, opts = {}) {
    this.address = address || process.env.CONNBROKER_ADDR || DEFAULT_ADDRESS;
    this.timeoutMs = opts.timeoutMs || 5000;
    this.kept = opts.serveStale === false ? null
      : new resilience.Kept({ marginMs: opts.staleMarginMs, withoutExpiryMs: opts.staleWithoutExpiryMs, logger: opts.logger || console });
    const Svc = service();
    this.stub = new Svc(resilience.channelTarget(this.address), opts.credentials || grpc.credentials.createInsecure(),
      resilience.channelOptions(this.address));
    this.cas = new CAStore(); // the CA bundles received (compact.js)
    this.reportEnvironment = opts.reportEnvironment !== false;
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
    // The inventory report with the first request per process, endpoint and driver (report.js).
    const rep = this.reportEnvironment ? inventoryReport.report(endpoint, driver) : { message: null };
    const req = { endpoint, driver, ...this.cas.request(endpoint, driver) };
    if (rep.message) req.clientEnvironment = rep.message;
    return new Promise((resolve, reject) => {
      this.stub.getConnectionParams(req, { deadline: Date.now() + timeout }, (err, resp) => {
        if (!err) {
          if (rep.message) inventoryReport.accepted(endpoint, driver, rep.key);
          const bad = this.cas.complete(endpoint, driver, resp.params);
          if (bad === VIEW_UNKNOWN && req.knownViewSha256.length) { // once: everything
            this.cas.forgetView(endpoint, driver);
            resolve(this.getConnectionParams(endpoint, driver));
            return;
          }
          if (bad) {
            reject(new BrokerError(`${op}: ${bad}`, grpc.status.INTERNAL, 'ERROR_REASON_UNSPECIFIED', {}));
            return;
          }
          if (kept) kept.keep(key, resp.params, this.address);
          resolve(resp.params);
          return;
        }
        const why = err.details || err.message;
        if (err.code === resilience.UNAVAILABLE || err.code === resilience.DEADLINE_EXCEEDED) {
          if (!kept) {
            reject(fromRpcError(err, `${op}: broker unavailable: ${why}`));
            return;
          }
          const r = kept.serve(key, this.address, why);
          if (r.params) resolve(r.params);
          else if (r.expiredAgoMs === null) reject(fromRpcError(err, `${op}: broker unavailable: ${why}`));
          else {
            const basis = r.exp === null ? 'the credential has no expiresAt; kept params are served for a fixed time after the fetch'
              : `credential expires_at ${new Date(r.exp).toISOString()} minus the ${kept.marginMs / 1000}s safety margin`;
            reject(new BrokerUnavailable(`${op}: broker unavailable: ${why}; the last params for this endpoint expired ${(r.expiredAgoMs / 1000).toFixed(1)}s ago (${basis}), so none can be served until broker ${this.address} answers again`, err.code, 'ERROR_REASON_UNSPECIFIED', {}, r.expiredAgoMs));
          }
          return;
        }
        if (kept && resilience.FORGET.has(err.code)) kept.forget(key);
        reject(fromRpcError(err, `${op}: ${why}`));
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
        if (err) reject(fromRpcError(err, `ReportLoginFailure(endpoint=${endpoint}, driver=${driver}, mysql_errno=${mysqlErrno}) at ${this.address}: ${err.details || err.message}`));
        else resolve(resp);
      });
    });
  }

  /**
   * Resolves to the drivers the broker renders hints for (ListDrivers),
   * sorted by name: {name, aliases, displayName, runtime, wraps,
   * environment: {package, module, minVersion, optionalPackages, envVars,
   * versionRules: [{below, problem}], guessOrder}, variants}. Read names
   * and aliases from here instead of keeping a table.
   */
  listDrivers() {
    return new Promise((resolve, reject) => {
      this.stub.listDrivers({}, { deadline: Date.now() + this.timeoutMs }, (err, resp) => {
        if (err) {
          reject(fromRpcError(err, `ListDrivers at ${this.address}: ${err.details || err.message}`));
          return;
        }
        resolve((resp.drivers || []).map(driverInfo));
      });
    });
  }

  /**
   * Resolves to the broker's inventory (ListInventory): {records: [{caller,
   * endpoint, environment, firstSeen, lastSeen, count, digest}], store:
   * {enabled, backend, records, capacity, full, dropped, ...}, truncated}.
   * Only endpoints this caller may get are listed.
   */
  listInventory(endpoint = '', limit = 0) {
    return new Promise((resolve, reject) => {
      this.stub.listInventory({ endpoint, limit }, { deadline: Date.now() + this.timeoutMs }, (err, resp) => {
        if (err) reject(fromRpcError(err, `ListInventory(endpoint=${endpoint}) at ${this.address}: ${err.details || err.message}`));
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

/** driverInfo is a decoded DriverInfo with every list present. */
function driverInfo(d) {
  const env = d.environment || {};
  return {
    name: d.name,
    aliases: d.aliases || [],
    displayName: d.displayName,
    runtime: d.runtime,
    wraps: d.wraps || '',
    environment: {
      package: env.package || '',
      module: env.module || '',
      minVersion: env.minVersion || '',
      optionalPackages: env.optionalPackages || [],
      envVars: env.envVars || [],
      versionRules: (env.versionRules || []).map((r) => ({ below: r.below, problem: r.problem })),
      guessOrder: Number(env.guessOrder || 0),
    },
    variants: d.variants || [],
  };
}

/**
 * optionsToObject converts decoded hint options (repeated HintOption, as
 * @grpc/proto-loader decodes them with oneofs: true) into a plain object:
 * strings, numbers, booleans and nested objects for option groups. An
 * option with a value type newer than this client becomes null.
 */
function optionsToObject(options) {
  const out = {};
  for (const o of options || []) {
    switch (o.value) {
      case 'stringValue': out[o.name] = o.stringValue; break;
      case 'intValue': out[o.name] = Number(o.intValue); break; // int64 arrives as a string (longs: String)
      case 'boolValue': out[o.name] = o.boolValue; break;
      case 'optionsValue': out[o.name] = optionsToObject(o.optionsValue && o.optionsValue.options); break;
      default: out[o.name] = null;
    }
  }
  return out;
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
  const opts = optionsToObject(h.options);
  if (opts.ssl && opts.ssl.ca === CA_FILE) {
    if (params.tls && params.tls.caPem) opts.ssl.ca = params.tls.caPem;
    else delete opts.ssl.ca; // Node's default CAs
  }
  opts[h.secretOption] = (params.credential && params.credential.secret) || '';
  Object.assign(opts, overrides);
  const res = params.resolution || {};
  const clear = (params.credential && params.credential.kind === 'CREDENTIAL_KIND_IAM_TOKEN') || res.plugin === 'mysql_clear_password';
  const modeRequires = params.tls && ['TLS_MODE_REQUIRED', 'TLS_MODE_VERIFY_CA', 'TLS_MODE_VERIFY_IDENTITY'].includes(params.tls.mode);
  if ((clear || res.tlsRequired || modeRequires) && !opts.ssl) {
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

module.exports = {
  AuthUndecided, InventoryOff, BrokerError, BrokerInternalError, BrokerUnavailable, Client, CredentialUnavailable, DEFAULT_ADDRESS, DRIVER,
  EndpointNotFound, ERROR_DOMAIN, InvalidRequest, PermissionDenied, RateLimited, Unauthenticated,
  connect, errorInfo, fromRpcError, mysql2Options, optionsToObject,
};
