// Compact GetConnectionParams: the CA bundle once per client, no repeated
// options. A request carries knownCaSha256 (the digest of the bundle this
// client last received for the endpoint) and omitParamOptions; the broker
// then leaves tls.caPem out when the digest matches and leaves out the hint
// options that only repeat host, port, user and database (named in
// hints.paramOptions). It also holds the last complete view per endpoint and
// driver (every field but endpoint and credential) under its viewSha256 and
// names it in knownViewSha256: the broker then sends only the credential
// (viewOmitted). complete() puts everything back, so every helper reads
// complete params.
'use strict';

const crypto = require('crypto');

/** The CA bundles one client received, by digest, and the last per endpoint. */
class CAStore {
  constructor() {
    this.pems = new Map(); // hex digest -> PEM
    this.endpoints = new Map(); // endpoint -> Buffer digest
    this.views = new Map(); // `${endpoint}/${driver}` -> { sum: Buffer, view }
  }

  /** The compact request fields for endpoint and driver. */
  request(endpoint, driver) {
    const held = this.views.get(`${endpoint}/${driver}`);
    return {
      knownCaSha256: this.endpoints.get(endpoint) || Buffer.alloc(0), omitParamOptions: true,
      knownViewSha256: held ? held.sum : Buffer.alloc(0),
    };
  }

  /** forgetView drops the view held for endpoint and driver: the next request asks for everything. */
  forgetView(endpoint, driver) {
    this.views.delete(`${endpoint}/${driver}`);
  }

  /**
   * complete makes a compact response whole, in place; it returns VIEW_UNKNOWN
   * when the view was left out for a digest this client does not hold (ask
   * again without one), an error message when the PEM sent does not match
   * its digest or was left out for a digest this client does not hold, else
   * null. Restored parts are copies: a caller may change what it gets.
   */
  complete(endpoint, driver, params) {
    const key = `${endpoint}/${driver}`;
    const sum = params.viewSha256 && params.viewSha256.length ? Buffer.from(params.viewSha256) : null;
    if (params.viewOmitted) {
      const held = this.views.get(key);
      if (!held || !sum || !held.sum.equals(sum)) return VIEW_UNKNOWN;
      Object.assign(params, structuredClone(held.view));
      params.viewOmitted = false;
      return null;
    }
    const bad = this.completeCA(endpoint, params);
    if (bad) return bad;
    if (sum && sum.length === 32) {
      const { host, port, user, database, tls, hints, resolution } = params;
      this.views.set(key, { sum, view: structuredClone({ host, port, user, database, tls, hints, resolution }) });
    } else {
      this.views.delete(key);
    }
    return null;
  }

  /** completeCA puts back tls.caPem and the options named by hints.paramOptions. */
  completeCA(endpoint, params) {
    const tls = params.tls || (params.tls = {});
    const sum = tls.caSha256 && tls.caSha256.length ? Buffer.from(tls.caSha256) : null;
    if (tls.caPem) {
      const got = crypto.createHash('sha256').update(tls.caPem, 'utf8').digest();
      if (sum && !got.equals(sum)) return 'tls.ca_pem does not match tls.ca_sha256';
      this.pems.set(got.toString('hex'), tls.caPem);
      this.endpoints.set(endpoint, got);
    } else if (!sum) {
      this.endpoints.delete(endpoint);
    } else {
      const pem = this.pems.get(sum.toString('hex'));
      if (pem === undefined) return 'tls.ca_pem left out for a CA bundle this client does not hold';
      tls.caPem = pem;
    }
    completeOptions(params);
    return null;
  }
}

/** completeOptions adds back the options named by hints.paramOptions, sorted, and clears it. */
function completeOptions(params) {
  const h = params.hints;
  const names = h && h.paramOptions;
  if (!names) return;
  const add = (name, o) => { if (name) h.options.push({ name, ...o }); };
  add(names.host, { value: 'stringValue', stringValue: params.host });
  add(names.port, { value: 'intValue', intValue: String(params.port) });
  add(names.user, { value: 'stringValue', stringValue: params.user });
  add(names.database, { value: 'stringValue', stringValue: params.database });
  h.options.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  h.paramOptions = null;
}

/** VIEW_UNKNOWN is complete()'s answer to params left out for a view this client does not hold. */
const VIEW_UNKNOWN = 'params sent for a view this client does not hold';

module.exports = { CAStore, completeOptions, VIEW_UNKNOWN };
