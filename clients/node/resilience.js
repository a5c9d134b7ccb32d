// What the Node client does while the broker is away (see docs/OPERATIONS.md,
// "When the broker is away"): keep the last params per (endpoint, driver), serve them while
// the credential's expiresAt minus a margin is ahead, one warning per
// outage, a counter of stale serves; a gRPC retry policy for UNAVAILABLE;
// several broker addresses with round_robin.
'use strict';

const net = require('net');

/** Milliseconds before expiresAt at which kept params stop being served. */
const DEFAULT_STALE_MARGIN_MS = 60_000;
/** Milliseconds kept params without expiresAt (a password) are served after the fetch. */
const DEFAULT_STALE_WITHOUT_EXPIRY_MS = 900_000;
/** Deadline of each call while an outage is open, so a stale serve costs at most this. */
const OUTAGE_CALL_TIMEOUT_MS = 250;

/**
 * Service config: round_robin over every address; UNAVAILABLE retried up to
 * 4 attempts within the deadline, each wait drawn at random up to a backoff
 * doubling from 0.1 s to 1 s (gRPC's retry jitter).
 */
const SERVICE_CONFIG = {
  loadBalancingConfig: [{ round_robin: {} }],
  methodConfig: [{
    name: [{ service: 'connbroker.v1.BrokerService' }],
    retryPolicy: { maxAttempts: 4, initialBackoff: '0.1s', maxBackoff: '1s', backoffMultiplier: 2, retryableStatusCodes: ['UNAVAILABLE'] },
  }],
};

// gRPC status codes used here.
const UNAVAILABLE = 14;
const DEADLINE_EXCEEDED = 4;
const FORGET = new Set([3 /* INVALID_ARGUMENT */, 5 /* NOT_FOUND */, 7 /* PERMISSION_DENIED */, 16 /* UNAUTHENTICATED */]);

/**
 * channelTarget turns a broker address into a gRPC target: a gRPC target
 * (dns:///name:7700, ipv4:..., unix:...) or a single host:port as given; a
 * comma-separated list of IP literals into an ipv4:/ipv6: target. Host names
 * in a list are refused (use dns:/// for a name with several addresses).
 */
function channelTarget(address) {
  address = address.trim();
  if (!address.includes(',')) return address;
  const v4 = [];
  const v6 = [];
  for (const raw of address.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^\[([^\]]+)\]:(\d+)$/.exec(raw) || /^([^:]+):(\d+)$/.exec(raw);
    if (!m) throw new Error(`broker address ${JSON.stringify(raw)} is not host:port`);
    const [, host, port] = m;
    if (net.isIPv4(host)) v4.push(`${host}:${port}`);
    else if (net.isIPv6(host)) v6.push(`[${host}]:${port}`);
    else throw new Error(`broker address ${JSON.stringify(raw)}: a list takes IP addresses; use dns:///${host}:${port} for a name`);
  }
  if (v4.length && v6.length) throw new Error(`broker addresses ${JSON.stringify(address)} mix IPv4 and IPv6`);
  if (!v4.length && !v6.length) throw new Error(`broker address list ${JSON.stringify(address)} is empty`);
  return v4.length ? `ipv4:${v4.join(',')}` : `ipv6:${v6.join(',')}`;
}

/** channelOptions: the retry policy, round_robin and a short reconnect backoff. */
function channelOptions(address) {
  const o = {
    'grpc.enable_retries': 1,
    'grpc.service_config': JSON.stringify(SERVICE_CONFIG),
    'grpc.initial_reconnect_backoff_ms': 200,
    'grpc.max_reconnect_backoff_ms': 2000,
  };
  if (address.includes(',') && !/^[a-z0-9+.-]+:[^0-9]/i.test(address)) o['grpc.default_authority'] = address.split(',')[0].trim();
  return o;
}

function timestampMs(ts) {
  if (!ts) return null;
  return Number(ts.seconds || 0) * 1000 + Math.floor((ts.nanos || 0) / 1e6);
}

/** Kept holds the last params per (endpoint, driver) and the outage bookkeeping. */
class Kept {
  constructor({ marginMs = DEFAULT_STALE_MARGIN_MS, withoutExpiryMs = DEFAULT_STALE_WITHOUT_EXPIRY_MS, logger = console } = {}) {
    this.marginMs = marginMs;
    this.withoutExpiryMs = withoutExpiryMs;
    this.logger = logger;
    this.entries = new Map();
    this.served = new Map();
    this.outages = 0;
    this.outageSince = null;
    this.warned = false;
    this.refusals = 0;
  }

  /** callTimeout is timeoutMs, or OUTAGE_CALL_TIMEOUT_MS while an outage is open. */
  callTimeout(timeoutMs) {
    return this.outageSince === null ? timeoutMs : Math.min(timeoutMs, OUTAGE_CALL_TIMEOUT_MS);
  }

  keep(key, params, address) {
    const now = Date.now();
    const exp = timestampMs(params.credential && params.credential.expiresAt);
    this.entries.set(key, { params: structuredClone(params), until: exp === null ? now + this.withoutExpiryMs : exp - this.marginMs, exp });
    const since = this.outageSince;
    this.outageSince = null;
    this.warned = false;
    if (since !== null) this.logger.warn(`connbroker: broker ${address} reachable again after ${((now - since) / 1000).toFixed(1)}s; fresh params for ${key}`);
  }

  forget(key) {
    this.entries.delete(key);
  }

  /**
   * serve returns a copy of the kept params while usable; otherwise it
   * returns null and, for expired ones, how long ago they expired.
   */
  serve(key, address, why) {
    const now = Date.now();
    if (this.outageSince === null) {
      this.outageSince = now;
      this.outages++;
    }
    const e = this.entries.get(key);
    if (!e) return { params: null, expiredAgoMs: null };
    if (now >= e.until) {
      this.refusals++;
      return { params: null, expiredAgoMs: now - e.until, until: e.until, exp: e.exp };
    }
    this.served.set(key, (this.served.get(key) || 0) + 1);
    if (!this.warned) {
      this.warned = true;
      this.logger.warn(`connbroker: broker ${address} unavailable (${why}); serving kept params for ${key}, usable for ${Math.round((e.until - now) / 1000)}s more; warning once per outage`);
    }
    return { params: structuredClone(e.params) };
  }

  /** stats is a snapshot of the counters, for export as metrics. */
  stats() {
    let staleServes = 0;
    const staleServesByKey = {};
    for (const [k, n] of this.served) {
      staleServes += n;
      staleServesByKey[k] = n;
    }
    return { staleServes, staleServesByKey, outages: this.outages, outageSince: this.outageSince, expiredRefusals: this.refusals };
  }
}

module.exports = {
  DEFAULT_STALE_MARGIN_MS, DEFAULT_STALE_WITHOUT_EXPIRY_MS, OUTAGE_CALL_TIMEOUT_MS, SERVICE_CONFIG,
  UNAVAILABLE, DEADLINE_EXCEEDED, FORGET, Kept, channelOptions, channelTarget,
};
