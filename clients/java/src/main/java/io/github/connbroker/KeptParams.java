package io.github.connbroker;

import connbroker.v1.Broker.ConnectionParams;
import java.lang.System.Logger.Level;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.Map;
import java.util.TreeMap;

/**
 * The last params per (endpoint, driver) and the outage bookkeeping of a
 * {@link BrokerClient}: while the broker is away, kept params are served as
 * long as the credential's expires_at minus a safety margin is ahead (or,
 * for a credential without expires_at, for a fixed time after the fetch).
 * Thread-safe.
 */
final class KeptParams {
    private static final System.Logger LOG = System.getLogger("io.github.connbroker");

    private record Entry(ConnectionParams params, Instant usableUntil, Instant expiresAt) {}

    private final Clock clock;
    private final Duration margin;
    private final Duration withoutExpiry;
    private final Map<String, Entry> entries = new HashMap<>();
    private final Map<String, Long> staleByKey = new TreeMap<>();
    private long outages;
    private Instant outageSince;
    private boolean warned;
    private long expiredRefusals;

    KeptParams(Clock clock, Duration margin, Duration withoutExpiry) {
        if (margin.isNegative() || withoutExpiry.isNegative()) {
            throw new IllegalArgumentException("stale margin and without-expiry time must be >= 0, got " + margin + ", " + withoutExpiry);
        }
        this.clock = clock;
        this.margin = margin;
        this.withoutExpiry = withoutExpiry;
    }

    static String key(String endpoint, String driver) {
        return endpoint + "/" + driver;
    }

    /** Remembers fresh params and ends an open outage (logging how long it lasted). */
    void keep(String endpoint, String driver, ConnectionParams params, String address) {
        Instant now = clock.instant();
        Instant expires = null;
        if (params.getCredential().hasExpiresAt()) {
            var ts = params.getCredential().getExpiresAt();
            expires = Instant.ofEpochSecond(ts.getSeconds(), ts.getNanos());
        }
        Instant until = expires != null ? expires.minus(margin) : now.plus(withoutExpiry);
        Instant since;
        synchronized (this) {
            entries.put(key(endpoint, driver), new Entry(params, until, expires));
            since = outageSince;
            outageSince = null;
            warned = false;
        }
        if (since != null) {
            LOG.log(Level.WARNING, "connbroker: broker {0} reachable again after {1} ms; fresh params for endpoint {2} (driver {3})",
                    address, Long.toString(Duration.between(since, now).toMillis()), endpoint, driver);
        }
    }

    /** Returns true while an outage is open (the last call was not answered). */
    synchronized boolean inOutage() {
        return outageSince != null;
    }

    /** Drops the kept params: the broker refused them, or a login with them was denied. */
    synchronized void forget(String endpoint, String driver) {
        entries.remove(key(endpoint, driver));
    }

    /**
     * Returns the kept params while usable, or throws {@code err} (or, for
     * expired params, an error saying how long ago they expired). Opens an
     * outage if none is open; warns once per outage.
     */
    ConnectionParams serve(String endpoint, String driver, BrokerUnavailableException err) throws BrokerUnavailableException {
        Instant now = clock.instant();
        ConnectionParams out;
        boolean warn;
        Duration left;
        synchronized (this) {
            if (outageSince == null) {
                outageSince = now;
                outages++;
            }
            Entry e = entries.get(key(endpoint, driver));
            if (e == null) {
                throw err;
            }
            if (!now.isBefore(e.usableUntil())) {
                expiredRefusals++;
                throw expired(err, e, Duration.between(e.usableUntil(), now));
            }
            staleByKey.merge(key(endpoint, driver), 1L, Long::sum);
            warn = !warned;
            warned = true;
            out = e.params();
            left = Duration.between(now, e.usableUntil());
        }
        if (warn) {
            LOG.log(Level.WARNING, "connbroker: broker {0} unavailable ({1}); serving kept params for endpoint {2} (driver {3}), "
                    + "usable for {4} s more; warning once per outage", err.address(), err.code(), endpoint, driver, Long.toString(left.toSeconds()));
        }
        return out;
    }

    private BrokerUnavailableException expired(BrokerUnavailableException err, Entry e, Duration ago) {
        String why = e.expiresAt() != null
                ? "credential expires_at " + e.expiresAt() + " minus the " + margin.toSeconds() + "s safety margin"
                : "the credential has no expires_at; kept params are served for " + withoutExpiry.toSeconds() + "s after they were fetched";
        String msg = String.format("%s; the last params for this endpoint expired %.1fs ago (%s), so none can be served until broker %s answers again",
                err.getMessage(), ago.toMillis() / 1000.0, why, err.address());
        return new BrokerUnavailableException(msg, err.address(), err.endpoint(), err.code(), ago, err.getCause());
    }

    /** Returns a snapshot of the counters. */
    synchronized ResilienceStats stats() {
        long total = staleByKey.values().stream().mapToLong(Long::longValue).sum();
        return new ResilienceStats(total, Map.copyOf(staleByKey), outages, outageSince, expiredRefusals);
    }
}
