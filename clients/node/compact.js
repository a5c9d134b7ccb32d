// Compact GetConnectionParams: the CA bundle once per client, no repeated
// options. A request carries knownCaSha256 (the digest of the bundle this
// client last received for the endpoint) and omitParamOptions; the broker
// then leaves tls.caPem out when the digest matches and leaves out the hint
// options that only repeat host, port, user and database (named in
// hints.paramOptions). complete() puts both back, so every helper reads
// complete params.
'use strict';

const crypto = require('crypto');

/** The CA bundles one client received, by digest, and the last per endpoint. */
class CAStore {
  constructor() {
    this.pems = new Map(); // hex digest -> PEM
    this.endpoints = new Map(); // endpoint -> Buffer digest
  }

  /** The compact request fields for endpoint. */
  request(endpoint) {
    return { knownCaSha256: this.endpoints.get(endpoint) || Buffer.alloc(0), omitParamOptions: true };
  }

  /**
   * complete makes a compact response whole, in place; it returns an error
   * message when the PEM sent does not match its digest or was left out for
   * a digest this client does not hold, else null.
   */
  complete(endpoint, params) {
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

module.exports = { CAStore, completeOptions };
