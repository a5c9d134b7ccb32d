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
 * for no option repeating a ConnectionParams field (omit_param_options); and
 * it holds the last complete view per endpoint and driver (every field but
 * endpoint and credential, under its view_sha256), so a repeat request names
 * it (known_view_sha256) and the broker sends only the credential.
 * {@link #complete} puts everything back, so callers only ever see whole
 * params. Thread-safe.
 */
final class CaStore {
    private final Map<ByteString, String> pems = new HashMap<>();
    private final Map<String, ByteString> byEndpoint = new HashMap<>();
    private final Map<ViewKey, HeldView> views = new HashMap<>();

    /** Names the params of one endpoint for one driver. */
    private record ViewKey(String endpoint, String driver) {}

    /**
     * A complete view (host, port, user, database, tls, hints, resolution;
     * no endpoint, no credential) and its digest. Protobuf messages are
     * immutable, so every response completed from it shares its parts.
     */
    private record HeldView(ByteString sum, ConnectionParams view) {}

    /** The length of a view digest (SHA-256). */
    private static final int VIEW_SHA256_SIZE = 32;

    /** Thrown when a compact response cannot be made whole. */
    static class IncompleteException extends Exception {
        private static final long serialVersionUID = 1L;

        IncompleteException(String message) {
            super(message);
        }
    }

    /**
     * Thrown when the broker left out a view this store does not hold (it
     * was dropped, or another one replaced it): ask again without a digest
     * ({@link #forgetView}).
     */
    static final class ViewUnknownException extends IncompleteException {
        private static final long serialVersionUID = 1L;

        ViewUnknownException(String endpoint) {
            super("endpoint \"" + endpoint + "\": params sent for a view this client does not hold");
        }
    }

    /**
     * Sets on req (endpoint and driver set) known_ca_sha256 when a bundle is
     * held for the endpoint, known_view_sha256 when a view is held for the
     * endpoint and driver, and omit_param_options.
     */
    GetConnectionParamsRequest.Builder compact(GetConnectionParamsRequest.Builder req) {
        ByteString known;
        HeldView view;
        synchronized (this) {
            known = byEndpoint.get(req.getEndpoint());
            view = views.get(new ViewKey(req.getEndpoint(), req.getDriver()));
        }
        if (known != null) {
            req.setKnownCaSha256(known);
        }
        if (view != null) {
            req.setKnownViewSha256(view.sum());
        }
        return req.setOmitParamOptions(true);
    }

    /** Drops the view held for endpoint and driver: the next request asks for the whole params. */
    synchronized void forgetView(String endpoint, String driver) {
        views.remove(new ViewKey(endpoint, driver));
    }

    /**
     * Returns p made whole: a left-out view from the one held for endpoint
     * and driver, tls.ca_pem from the bundle held when the broker left it
     * out, the options hints.param_options names added back from the fields
     * they repeat. It then holds the completed view under p's view_sha256,
     * or drops the one held when p names none.
     *
     * @throws ViewUnknownException the view was left out for a digest this
     *     store does not hold for endpoint and driver (ask again without one)
     * @throws IncompleteException the PEM sent does not match its digest,
     *     or was left out for a digest this store does not hold
     */
    ConnectionParams complete(String endpoint, String driver, ConnectionParams p) throws IncompleteException {
        ViewKey key = new ViewKey(endpoint, driver);
        if (p.getViewOmitted()) {
            HeldView held;
            synchronized (this) {
                held = views.get(key);
            }
            if (held == null || p.getViewSha256().isEmpty() || !held.sum().equals(p.getViewSha256())) {
                throw new ViewUnknownException(endpoint);
            }
            return restore(p, held.view());
        }
        p = completeCa(endpoint, p);
        ByteString sum = p.getViewSha256();
        synchronized (this) {
            if (sum.size() == VIEW_SHA256_SIZE) {
                views.put(key, new HeldView(sum, view(p)));
            } else {
                views.remove(key);
            }
        }
        return p;
    }

    /** Returns p's view: host, port, user, database, tls, hints and resolution. */
    private static ConnectionParams view(ConnectionParams p) {
        ConnectionParams.Builder v = ConnectionParams.newBuilder().setHost(p.getHost()).setPort(p.getPort()).setUser(p.getUser()).setDatabase(p.getDatabase());
        if (p.hasTls()) {
            v.setTls(p.getTls());
        }
        if (p.hasHints()) {
            v.setHints(p.getHints());
        }
        if (p.hasResolution()) {
            v.setResolution(p.getResolution());
        }
        return v.build();
    }

    /** Returns p (view left out) with view's fields put back and view_omitted cleared. */
    private static ConnectionParams restore(ConnectionParams p, ConnectionParams view) {
        ConnectionParams.Builder out = p.toBuilder().setHost(view.getHost()).setPort(view.getPort()).setUser(view.getUser())
                .setDatabase(view.getDatabase()).clearTls().clearHints().clearResolution().clearViewOmitted();
        if (view.hasTls()) {
            out.setTls(view.getTls());
        }
        if (view.hasHints()) {
            out.setHints(view.getHints());
        }
        if (view.hasResolution()) {
            out.setResolution(view.getResolution());
        }
        return out.build();
    }

    /** Puts back tls.ca_pem and the options named by hints.param_options. */
    private ConnectionParams completeCa(String endpoint, ConnectionParams p) throws IncompleteException {
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
