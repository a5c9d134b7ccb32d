package io.github.connbroker;

import io.grpc.Status;
import java.sql.SQLTransientConnectionException;
import java.time.Duration;
import java.util.Optional;

/**
 * The broker could not be reached (or answered UNAVAILABLE or
 * DEADLINE_EXCEEDED) and no kept params could be served: there were none
 * for the endpoint, or they were past their usable time (the credential's
 * expires_at minus the safety margin). Retrying later may help.
 *
 * <p>The message names the broker address and, for expired kept params,
 * how long ago they expired. It is a {@link java.sql.SQLException}
 * (SQLState 08001, "unable to establish the connection"). It never contains
 * a secret.
 */
public class BrokerUnavailableException extends SQLTransientConnectionException {
    private static final long serialVersionUID = 1L;

    private final String address;
    private final String endpoint;
    private final transient Status.Code code;
    private final Duration expiredAgo;

    /**
     * Creates the error.
     *
     * @param message what was being done and why it failed
     * @param address the broker target the call went to
     * @param endpoint the endpoint asked for
     * @param code the gRPC status code of the call
     * @param expiredAgo how long ago the kept params stopped being usable, or
     *     null when there were none
     * @param cause the gRPC error
     */
    public BrokerUnavailableException(String message, String address, String endpoint, Status.Code code, Duration expiredAgo,
            Throwable cause) {
        super(message, "08001", cause);
        this.address = address;
        this.endpoint = endpoint;
        this.code = code;
        this.expiredAgo = expiredAgo;
    }

    /** Returns the broker address the call went to. */
    public String address() {
        return address;
    }

    /** Returns the endpoint the call was about. */
    public String endpoint() {
        return endpoint;
    }

    /** Returns the gRPC status code of the failed call. */
    public Status.Code code() {
        return code;
    }

    /**
     * Returns how long ago the kept params for the endpoint stopped being
     * usable; empty when no params were kept.
     */
    public Optional<Duration> expiredAgo() {
        return Optional.ofNullable(expiredAgo);
    }
}
