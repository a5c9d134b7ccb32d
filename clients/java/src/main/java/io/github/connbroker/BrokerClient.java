package io.github.connbroker;

import connbroker.v1.Broker.ConnectionParams;
import connbroker.v1.Broker.GetConnectionParamsRequest;
import connbroker.v1.Broker.ReportLoginFailureRequest;
import connbroker.v1.BrokerServiceGrpc;
import io.grpc.ChannelCredentials;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.lang.System.Logger.Level;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.TimeUnit;

/**
 * A client of the connbroker gRPC API on its own channel, with the
 * resilience every connbroker helper has:
 *
 * <ul>
 *   <li>every call has a deadline ({@link Builder#timeout}); UNAVAILABLE is
 *       retried by gRPC's retry policy (4 attempts, backoff 0.1 s doubling
 *       to 1 s, with jitter) within that deadline;
 *   <li>several brokers: {@code dns:///connbroker.ns.svc:7700} (every
 *       address of the name) or a comma-separated list, with round_robin;
 *   <li>the last params per (endpoint, driver) are kept; while the broker
 *       cannot be reached (or answers UNAVAILABLE / DEADLINE_EXCEEDED; or
 *       the call fails on a connection that closed under it) they
 *       are served as long as the credential's expires_at minus a safety
 *       margin is ahead, with one warning per outage and a counter
 *       ({@link #resilienceStats()});
 *   <li>kept params are dropped, and never served again, once the broker
 *       says NOT_FOUND, PERMISSION_DENIED, UNAUTHENTICATED or
 *       INVALID_ARGUMENT for them;
 *   <li>compact requests (docs/API.md): known_ca_sha256 names the CA bundle
 *       already held for the endpoint, so the broker leaves the PEM out,
 *       omit_param_options leaves out options repeating host, port, user and
 *       database, and known_view_sha256 names the last complete view held
 *       for the endpoint and driver, so the broker sends only the
 *       credential; all are put back before params are returned or kept (a
 *       view left out that is not held is asked for again, once, whole);
 *   <li>the environment report for the broker's inventory
 *       (docs/INVENTORY.md, {@link Builder#reportEnvironment}) rides on the
 *       first GetConnectionParams per process and endpoint, and again when
 *       it changes; it counts as sent once the broker answered.
 * </ul>
 *
 * <p>Thread-safe; share one per process. Close it when done.
 */
public final class BrokerClient implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger("io.github.connbroker");

    /** Default deadline of each call. */
    public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(5);
    /** Default time before expires_at at which kept params stop being served. */
    public static final Duration DEFAULT_STALE_MARGIN = Duration.ofSeconds(60);
    /** Default time kept params without expires_at are served after they were fetched. */
    public static final Duration DEFAULT_STALE_WITHOUT_EXPIRY = Duration.ofMinutes(15);
    /**
     * Deadline of each call while an outage is open (the previous call was
     * not answered), so serving kept params costs a new connection at most
     * this long; the first call of an outage gets the full timeout.
     */
    public static final Duration OUTAGE_CALL_TIMEOUT = Duration.ofMillis(250);

    private static final String SERVICE = "connbroker.v1.BrokerService";

    /**
     * The gRPC service config: round_robin over every broker address, and
     * UNAVAILABLE retried up to 4 attempts within the call's deadline (the
     * same as clients/go's ServiceConfig and clients/python's).
     */
    static final Map<String, ?> SERVICE_CONFIG = Map.of(
            "loadBalancingConfig", List.of(Map.of("round_robin", Map.of())),
            "methodConfig", List.of(Map.of(
                    "name", List.of(Map.of("service", SERVICE)),
                    "retryPolicy", Map.of(
                            "maxAttempts", 4.0,
                            "initialBackoff", "0.1s",
                            "maxBackoff", "1s",
                            "backoffMultiplier", 2.0,
                            "retryableStatusCodes", List.of("UNAVAILABLE")))));

    private final String address;
    private final ManagedChannel channel;
    private final BrokerServiceGrpc.BrokerServiceBlockingStub stub;
    private final Duration timeout;
    private final KeptParams kept;
    private final CaStore cas = new CaStore();
    private final EnvironmentReporter reporter;

    private BrokerClient(Builder b) {
        this.address = b.address;
        this.timeout = b.timeout;
        this.kept = new KeptParams(b.clock, b.staleMargin, b.staleWithoutExpiry);
        this.reporter = b.reportEnvironment ? b.reporter : null;
        ManagedChannel ch = b.channel;
        if (ch == null) {
            ManagedChannelBuilder<?> cb;
            if (address.contains(",")) {
                StaticAddresses list = StaticAddresses.parse(address);
                cb = Grpc.newChannelBuilder(StaticAddresses.SCHEME + ":///brokers", b.credentials);
                setResolver(cb, list);
            } else {
                cb = Grpc.newChannelBuilder(address.strip(), b.credentials);
            }
            ch = cb.defaultServiceConfig(SERVICE_CONFIG).enableRetry().build();
        }
        this.channel = ch;
        this.stub = BrokerServiceGrpc.newBlockingStub(channel);
    }

    @SuppressWarnings("deprecation") // nameResolverFactory is the only per-channel resolver hook of ManagedChannelBuilder
    private static void setResolver(ManagedChannelBuilder<?> cb, StaticAddresses list) {
        cb.nameResolverFactory(list);
    }

    /**
     * Returns a builder for a client of the broker at {@code address}: a
     * gRPC target such as {@code 127.0.0.1:7700} or
     * {@code dns:///connbroker.ns.svc:7700}, or a comma-separated list
     * {@code 10.0.0.1:7700,10.0.0.2:7700}.
     */
    public static Builder newBuilder(String address) {
        return new Builder(address);
    }

    /** Returns the broker address this client was made for (for messages). */
    public String address() {
        return address;
    }

    /**
     * Returns fresh params for one new connection to {@code endpoint} with
     * {@code driver}, or, while the broker is away, the kept ones while they
     * are usable.
     *
     * @throws BrokerUnavailableException the broker did not answer and no
     *     usable params were kept (retry later)
     * @throws BrokerException the broker refused (NOT_FOUND,
     *     PERMISSION_DENIED, INVALID_ARGUMENT...; do not retry)
     */
    public ConnectionParams connectionParams(String endpoint, String driver) throws BrokerUnavailableException, BrokerException {
        Objects.requireNonNull(endpoint, "endpoint");
        Objects.requireNonNull(driver, "driver");
        boolean outage = kept.inOutage();
        Duration deadline = outage && OUTAGE_CALL_TIMEOUT.compareTo(timeout) < 0 ? OUTAGE_CALL_TIMEOUT : timeout;
        if (outage) {
            channel.resetConnectBackoff(); // find a restarted broker at once, not after gRPC's reconnect backoff
        }
        GetConnectionParamsRequest.Builder req = cas.compact(GetConnectionParamsRequest.newBuilder().setEndpoint(endpoint).setDriver(driver));
        EnvironmentReporter.Due report = reporter != null ? reporter.due(endpoint, driver) : null;
        if (report != null) {
            req.setClientEnvironment(report.environment());
        }
        ConnectionParams p;
        boolean answered = false;
        String what = "get connection params for endpoint \"" + endpoint + "\" (driver \"" + driver + "\") at broker " + address;
        try {
            p = ask(req.build(), deadline);
            answered = true;
            try {
                p = cas.complete(endpoint, driver, p);
            } catch (CaStore.ViewUnknownException e) {
                if (req.getKnownViewSha256().isEmpty()) {
                    throw e; // a view left out that was never named: asking again would not help
                }
                // The view named is no longer held (dropped or replaced meanwhile): once more, whole.
                cas.forgetView(endpoint, driver);
                p = cas.complete(endpoint, driver, ask(cas.compact(GetConnectionParamsRequest.newBuilder().setEndpoint(endpoint).setDriver(driver)).build(), deadline));
            }
        } catch (StatusRuntimeException e) {
            Status.Code code = e.getStatus().getCode();
            if (code == Status.Code.UNKNOWN && e.getStatus().getCause() instanceof java.io.IOException) {
                // grpc-java fails a call that raced the close of a dead
                // connection (a killed broker) with UNKNOWN "channel closed"
                // and a ClosedChannelException: the broker was not reached.
                code = Status.Code.UNAVAILABLE;
            }
            switch (code) {
                case UNAVAILABLE, DEADLINE_EXCEEDED -> {
                    return kept.serve(endpoint, driver, new BrokerUnavailableException(
                            what + ": broker unavailable: " + describe(e.getStatus()), address, endpoint, code, null, e));
                }
                case NOT_FOUND, PERMISSION_DENIED, UNAUTHENTICATED, INVALID_ARGUMENT -> {
                    kept.forget(endpoint, driver);
                    throw new BrokerException(what + ": " + describe(e.getStatus()), endpoint, code, e);
                }
                default -> throw new BrokerException(what + ": " + describe(e.getStatus()), endpoint, code, e);
            }
        } catch (CaStore.IncompleteException e) {
            throw new BrokerException(what + ": " + e.getMessage(), endpoint, Status.Code.INTERNAL, e);
        } finally {
            if (report != null) {
                reporter.done(endpoint, driver, report.key(), answered); // answered: the report is in the broker's inventory
            }
        }
        kept.keep(endpoint, driver, p, address);
        return p;
    }

    /** Calls GetConnectionParams with req within deadline and returns the params as sent (compact). */
    private ConnectionParams ask(GetConnectionParamsRequest req, Duration deadline) {
        return stub.withDeadlineAfter(deadline.toMillis(), TimeUnit.MILLISECONDS).getConnectionParams(req).getParams();
    }

    /** Returns "CODE: description (cause)" without the cause's stack trace. */
    private static String describe(Status s) {
        StringBuilder b = new StringBuilder(s.getCode().name());
        if (s.getDescription() != null) {
            b.append(": ").append(s.getDescription());
        }
        if (s.getCause() != null) {
            b.append(" (").append(s.getCause()).append(')');
        }
        return b.toString();
    }

    /**
     * Tells the broker that a login with params it issued for
     * {@code endpoint} was refused with {@code mysqlErrno} (1045 or 1698),
     * after dropping the kept params for (endpoint, driver). The broker
     * re-reads the credential source at once (a rotation may have happened).
     *
     * @return true when the broker took the report, so a retry with fresh
     *     params is worth it; false when it did not answer or refused (the
     *     login's error stands)
     */
    public boolean reportLoginFailure(String endpoint, String driver, int mysqlErrno) {
        kept.forget(endpoint, driver);
        try {
            var resp = stub.withDeadlineAfter(timeout.toMillis(), TimeUnit.MILLISECONDS).reportLoginFailure(ReportLoginFailureRequest.newBuilder()
                    .setEndpoint(endpoint).setDriver(driver).setMysqlErrno(mysqlErrno).build());
            LOG.log(Level.INFO, "connbroker: login to endpoint {0} refused with {1}; reported (reread={2}, changed={3}), retrying once",
                    endpoint, Integer.toString(mysqlErrno), resp.getReread(), resp.getChanged());
            return true;
        } catch (StatusRuntimeException e) {
            LOG.log(Level.WARNING, "connbroker: report login failure for endpoint {0} to broker {1}: {2}", endpoint, address, describe(e.getStatus()));
            return false;
        }
    }

    /** Returns the store that makes requests compact (tests). */
    CaStore compactStore() {
        return cas;
    }

    /** Returns whether GetConnectionParams carries the environment report (tests). */
    boolean reportsEnvironment() {
        return reporter != null;
    }

    /** Returns a snapshot of the kept-params counters, for export as metrics. */
    public ResilienceStats resilienceStats() {
        return kept.stats();
    }

    /** Shuts the channel down, waiting up to 5 s for calls in flight. */
    @Override
    public void close() {
        channel.shutdown();
        try {
            if (!channel.awaitTermination(5, TimeUnit.SECONDS)) {
                channel.shutdownNow();
            }
        } catch (InterruptedException e) {
            channel.shutdownNow();
            Thread.currentThread().interrupt();
        }
    }

    /** Builds a {@link BrokerClient}. */
    public static final class Builder {
        private final String address;
        private ChannelCredentials credentials = InsecureChannelCredentials.create();
        private Duration timeout = DEFAULT_TIMEOUT;
        private Duration staleMargin = DEFAULT_STALE_MARGIN;
        private Duration staleWithoutExpiry = DEFAULT_STALE_WITHOUT_EXPIRY;
        private Clock clock = Clock.systemUTC();
        private ManagedChannel channel;
        private boolean reportEnvironment = true;
        private EnvironmentReporter reporter = EnvironmentReporter.PROCESS;

        private Builder(String address) {
            this.address = Objects.requireNonNull(address, "address").strip();
            if (this.address.isEmpty()) {
                throw new IllegalArgumentException("broker address is empty");
            }
        }

        /**
         * Sets the channel credentials, e.g. {@code TlsChannelCredentials}
         * for a broker behind TLS or mTLS. Default: plaintext (a broker on
         * loopback or a Unix socket).
         */
        public Builder credentials(ChannelCredentials credentials) {
            this.credentials = Objects.requireNonNull(credentials, "credentials");
            return this;
        }

        /** Sets the deadline of each call (default 5 s). */
        public Builder timeout(Duration timeout) {
            if (timeout.isNegative() || timeout.isZero()) {
                throw new IllegalArgumentException("timeout must be > 0, got " + timeout);
            }
            this.timeout = timeout;
            return this;
        }

        /** Sets how long before expires_at kept params stop being served (default 60 s). */
        public Builder staleMargin(Duration margin) {
            this.staleMargin = Objects.requireNonNull(margin, "margin");
            return this;
        }

        /** Sets how long kept params without expires_at are served after the fetch (default 15 min). */
        public Builder staleWithoutExpiry(Duration d) {
            this.staleWithoutExpiry = Objects.requireNonNull(d, "staleWithoutExpiry");
            return this;
        }

        /**
         * Sets whether GetConnectionParams carries this process's environment
         * report for the broker's inventory (default true; docs/INVENTORY.md):
         * Connector/J's and HikariCP's versions, the JVM and the default trust
         * store, with the first request per endpoint and again when it changes.
         */
        public Builder reportEnvironment(boolean report) {
            this.reportEnvironment = report;
            return this;
        }

        /** Uses its own reporter instead of the process's (tests). */
        Builder reporter(EnvironmentReporter reporter) {
            this.reporter = Objects.requireNonNull(reporter, "reporter");
            return this;
        }

        /** Sets the clock (tests). */
        Builder clock(Clock clock) {
            this.clock = clock;
            return this;
        }

        /** Uses an existing channel (tests: an in-process server); the address is then only a name. */
        Builder channel(ManagedChannel channel) {
            this.channel = channel;
            return this;
        }

        /** Returns the client; its channel connects lazily. */
        public BrokerClient build() {
            return new BrokerClient(this);
        }
    }
}
