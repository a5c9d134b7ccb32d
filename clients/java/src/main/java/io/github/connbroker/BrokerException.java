package io.github.connbroker;

import io.grpc.Status;
import java.sql.SQLNonTransientConnectionException;

/**
 * The broker refused to hand out params for an endpoint: NOT_FOUND (unknown
 * endpoint), PERMISSION_DENIED or UNAUTHENTICATED (this caller may not use
 * it), INVALID_ARGUMENT (a bad request), or another non-transient code.
 * Retrying the same request will not help; kept params for the endpoint are
 * dropped and never served after this error.
 *
 * <p>It is a {@link java.sql.SQLException} (SQLState 08004, "server rejected
 * the connection") so that a pool such as HikariCP reports it as a failed
 * connection attempt. The message never contains a secret.
 */
public class BrokerException extends SQLNonTransientConnectionException {
    private static final long serialVersionUID = 1L;

    private final transient Status.Code code;
    private final String endpoint;

    /**
     * Creates the error for a call about {@code endpoint} that ended with
     * {@code code}.
     *
     * @param message what was being done and why it failed
     * @param endpoint the endpoint asked for
     * @param code the gRPC status code of the call
     * @param cause the gRPC error
     */
    public BrokerException(String message, String endpoint, Status.Code code, Throwable cause) {
        super(message, "08004", cause);
        this.endpoint = endpoint;
        this.code = code;
    }

    /** Returns the gRPC status code the broker answered with. */
    public Status.Code code() {
        return code;
    }

    /** Returns the endpoint the call was about. */
    public String endpoint() {
        return endpoint;
    }
}
