package io.github.connbroker;

import com.google.protobuf.ByteString;
import connbroker.v1.Broker.ConnectionParams;
import connbroker.v1.Broker.DriverHints;
import connbroker.v1.Broker.GetConnectionParamsRequest;
import connbroker.v1.Broker.HintOption;
import connbroker.v1.Broker.ParamOptionNames;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Makes GetConnectionParams compact (docs/API.md, as clients/go's
 * compact.go): it remembers the CA bundles received, by SHA-256, and the
 * last one per endpoint, so a request names the bundle held
 * (known_ca_sha256) and the broker leaves tls.ca_pem out; every request asks
 * for no option repeating a ConnectionParams field (omit_param_options).
 * {@link #complete} puts both back, so callers only ever see whole params.
 * Thread-safe.
 */
final class CaStore {
    private final Map<ByteString, String> pems = new HashMap<>();
    private final Map<String, ByteString> byEndpoint = new HashMap<>();

    /** Thrown when a compact response cannot be made whole. */
    static final class IncompleteException extends Exception {
        private static final long serialVersionUID = 1L;

        IncompleteException(String message) {
            super(message);
        }
    }

    /** Sets known_ca_sha256 (when a bundle is held for endpoint) and omit_param_options on req. */
    GetConnectionParamsRequest.Builder compact(GetConnectionParamsRequest.Builder req) {
        ByteString known;
        synchronized (this) {
            known = byEndpoint.get(req.getEndpoint());
        }
        if (known != null) {
            req.setKnownCaSha256(known);
        }
        return req.setOmitParamOptions(true);
    }

    /**
     * Returns p made whole: tls.ca_pem from the bundle held when the broker
     * left it out, the options hints.param_options names added back from
     * the fields they repeat.
     *
     * @throws IncompleteException the PEM sent does not match its digest,
     *     or was left out for a digest this store does not hold
     */
    ConnectionParams complete(String endpoint, ConnectionParams p) throws IncompleteException {
        var tls = p.getTls();
        ConnectionParams.Builder out = null;
        synchronized (this) {
            if (!tls.getCaPem().isEmpty()) {
                ByteString sum = sha256(tls.getCaPem());
                if (!tls.getCaSha256().isEmpty() && !sum.equals(tls.getCaSha256())) {
                    throw new IncompleteException("endpoint \"" + endpoint + "\": tls.ca_pem does not match tls.ca_sha256");
                }
                pems.put(sum, tls.getCaPem());
                byEndpoint.put(endpoint, sum);
            } else if (tls.getCaSha256().isEmpty()) {
                byEndpoint.remove(endpoint);
            } else {
                String pem = pems.get(tls.getCaSha256());
                if (pem == null) {
                    throw new IncompleteException("endpoint \"" + endpoint + "\": tls.ca_pem left out for a CA bundle this client does not hold");
                }
                out = p.toBuilder();
                out.getTlsBuilder().setCaPem(pem);
            }
        }
        if (p.getHints().hasParamOptions()) {
            if (out == null) {
                out = p.toBuilder();
            }
            completeOptions(out);
        }
        return out == null ? p : out.build();
    }

    /**
     * Adds back to p's hints the options named by hints.param_options, from
     * p's host, port, user and database (database only when not empty),
     * sorted by name, and clears param_options.
     */
    static void completeOptions(ConnectionParams.Builder p) {
        DriverHints.Builder h = p.getHintsBuilder();
        ParamOptionNames n = h.getParamOptions();
        List<HintOption> opts = new ArrayList<>(h.getOptionsList());
        if (!n.getHost().isEmpty()) {
            opts.add(HintOption.newBuilder().setName(n.getHost()).setStringValue(p.getHost()).build());
        }
        if (!n.getPort().isEmpty()) {
            opts.add(HintOption.newBuilder().setName(n.getPort()).setIntValue(p.getPort()).build());
        }
        if (!n.getUser().isEmpty()) {
            opts.add(HintOption.newBuilder().setName(n.getUser()).setStringValue(p.getUser()).build());
        }
        if (!n.getDatabase().isEmpty() && !p.getDatabase().isEmpty()) {
            opts.add(HintOption.newBuilder().setName(n.getDatabase()).setStringValue(p.getDatabase()).build());
        }
        opts.sort(Comparator.comparing(HintOption::getName));
        h.clearOptions().addAllOptions(opts).clearParamOptions();
    }

    static ByteString sha256(String pem) {
        try {
            return ByteString.copyFrom(MessageDigest.getInstance("SHA-256").digest(pem.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JVM", e);
        }
    }
}
