package io.github.connbroker;

import connbroker.v1.Broker.ConnectionParams;
import java.io.PrintWriter;
import java.sql.Connection;
import java.sql.Driver;
import java.sql.SQLException;
import java.sql.SQLFeatureNotSupportedException;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicLong;
import java.util.logging.Logger;
import javax.sql.DataSource;

/**
 * A {@link DataSource} that asks the broker for fresh params for every
 * physical connection and logs in with MySQL Connector/J, using the URL and
 * properties the broker renders for driver "connector-j". Put a pool in
 * front of it ({@link ConnbrokerHikari}); every connection the pool opens
 * then carries a fresh IAM token or the current password.
 *
 * <p>When a login is refused with 1045 or 1698 (a rotation race), it reports
 * the failure to the broker ({@code ReportLoginFailure}), which re-reads
 * the credential source, and retries that login once with fresh params.
 * While the broker is away, its {@link BrokerClient} serves the kept params
 * as long as they are usable.
 *
 * <p>Two ways to make one: {@code new ConnbrokerDataSource(client,
 * endpoint)} with a shared {@link BrokerClient}, or the no-argument
 * constructor and the bean properties {@code brokerAddress},
 * {@code endpoint} and optionally {@code timeoutMillis} (HikariCP's {@code dataSourceClassName} +
 * {@code dataSource.*} properties), which makes its own client on the first
 * connection. Thread-safe.
 */
public class ConnbrokerDataSource implements DataSource, AutoCloseable {
    /** The driver name this DataSource asks the broker to render hints for. */
    public static final String DRIVER = ConnectorJ.DRIVER;

    private static final int ER_ACCESS_DENIED = 1045;
    private static final int ER_ACCESS_DENIED_NO_PASSWORD = 1698;

    private final Driver driver = newDriver();
    private final ConnectorJ connectorJ = new ConnectorJ();
    private final AtomicLong opened = new AtomicLong();
    private final AtomicLong loginRetries = new AtomicLong();
    private volatile BrokerClient client;
    private volatile boolean ownsClient;
    private volatile String brokerAddress;
    private volatile String endpoint;
    private volatile long timeoutMillis = BrokerClient.DEFAULT_TIMEOUT.toMillis();
    private volatile boolean reportEnvironment = true;
    private volatile PrintWriter logWriter;
    private volatile int loginTimeout;

    /** Creates a DataSource configured through {@link #setBrokerAddress} and {@link #setEndpoint}. */
    public ConnbrokerDataSource() {}

    /**
     * Creates a DataSource for {@code endpoint} that asks {@code client};
     * closing it leaves the client open.
     */
    public ConnbrokerDataSource(BrokerClient client, String endpoint) {
        this.client = Objects.requireNonNull(client, "client");
        this.brokerAddress = client.address();
        this.endpoint = Objects.requireNonNull(endpoint, "endpoint");
    }

    private static Driver newDriver() {
        try {
            return new com.mysql.cj.jdbc.Driver();
        } catch (SQLException e) {
            throw new IllegalStateException("load MySQL Connector/J: " + e.getMessage(), e);
        }
    }

    /** Sets the broker address (a gRPC target or a comma-separated list); before the first connection only. */
    public void setBrokerAddress(String brokerAddress) {
        if (client != null) {
            throw new IllegalStateException("brokerAddress is fixed once the DataSource has a client");
        }
        this.brokerAddress = brokerAddress;
    }

    /** Returns the broker address. */
    public String getBrokerAddress() {
        return brokerAddress;
    }

    /** Sets the configured endpoint name to connect to. */
    public void setEndpoint(String endpoint) {
        this.endpoint = endpoint;
    }

    /** Returns the endpoint name. */
    public String getEndpoint() {
        return endpoint;
    }

    /**
     * Sets the deadline of each broker call, in milliseconds, for the client
     * this DataSource makes from brokerAddress (default 5000); before the
     * first connection only.
     */
    public void setTimeoutMillis(long timeoutMillis) {
        if (client != null) {
            throw new IllegalStateException("timeoutMillis is fixed once the DataSource has a client");
        }
        if (timeoutMillis <= 0) {
            throw new IllegalArgumentException("timeoutMillis must be > 0, got " + timeoutMillis);
        }
        this.timeoutMillis = timeoutMillis;
    }

    /** Returns the deadline of each broker call, in milliseconds. */
    public long getTimeoutMillis() {
        return timeoutMillis;
    }

    /**
     * Sets whether the client this DataSource makes from brokerAddress sends
     * the environment report for the broker's inventory (default true; see
     * {@link BrokerClient.Builder#reportEnvironment}); before the first
     * connection only.
     */
    public void setReportEnvironment(boolean reportEnvironment) {
        if (client != null) {
            throw new IllegalStateException("reportEnvironment is fixed once the DataSource has a client");
        }
        this.reportEnvironment = reportEnvironment;
    }

    /** Returns whether the client made from brokerAddress sends the environment report. */
    public boolean isReportEnvironment() {
        return reportEnvironment;
    }

    /** Returns the client, making one from brokerAddress on first use. */
    public BrokerClient client() {
        BrokerClient c = client;
        if (c != null) {
            return c;
        }
        synchronized (this) {
            if (client == null) {
                if (brokerAddress == null || brokerAddress.isBlank()) {
                    throw new IllegalStateException("ConnbrokerDataSource has no brokerAddress (set dataSource.brokerAddress)");
                }
                client = BrokerClient.newBuilder(brokerAddress).timeout(java.time.Duration.ofMillis(timeoutMillis))
                        .reportEnvironment(reportEnvironment).build();
                ownsClient = true;
            }
            return client;
        }
    }

    /**
     * Opens a new physical connection with fresh params from the broker.
     *
     * @throws BrokerUnavailableException the broker is away and no usable params are kept
     * @throws BrokerException the broker refused (unknown endpoint, not allowed...)
     * @throws SQLException the login failed (after one retry with fresh
     *     params for 1045/1698)
     */
    @Override
    public Connection getConnection() throws SQLException {
        String ep = endpoint;
        if (ep == null || ep.isBlank()) {
            throw new SQLNonTransientConnectionExceptionWithState("ConnbrokerDataSource has no endpoint (set dataSource.endpoint)");
        }
        BrokerClient c = client();
        ConnectionParams p = c.connectionParams(ep, DRIVER);
        try {
            return open(p);
        } catch (SQLException e) {
            int errno = e.getErrorCode();
            if ((errno != ER_ACCESS_DENIED && errno != ER_ACCESS_DENIED_NO_PASSWORD) || !c.reportLoginFailure(ep, DRIVER, errno)) {
                throw e;
            }
            loginRetries.incrementAndGet();
            try {
                return open(c.connectionParams(ep, DRIVER));
            } catch (SQLException again) {
                again.addSuppressed(e);
                throw again;
            }
        }
    }

    private Connection open(ConnectionParams p) throws SQLException {
        ConnectorJ.Login login = connectorJ.login(p);
        Connection conn = driver.connect(login.url(), login.props());
        if (conn == null) {
            throw new SQLNonTransientConnectionExceptionWithState("Connector/J does not accept the URL " + login.url());
        }
        opened.incrementAndGet();
        return conn;
    }

    /** Not supported: the credentials come from the broker. */
    @Override
    public Connection getConnection(String username, String password) throws SQLException {
        throw new SQLFeatureNotSupportedException("ConnbrokerDataSource takes its user and secret from the broker; call getConnection()");
    }

    /** Returns how many physical connections this DataSource opened. */
    public long physicalConnections() {
        return opened.get();
    }

    /** Returns how many logins were retried after a 1045/1698 reported to the broker. */
    public long loginRetries() {
        return loginRetries.get();
    }

    @Override
    public PrintWriter getLogWriter() {
        return logWriter;
    }

    @Override
    public void setLogWriter(PrintWriter out) {
        this.logWriter = out;
    }

    /** Stored for {@link #getLoginTimeout}; the connect and login timeouts are the broker's hints and Connector/J's defaults. */
    @Override
    public void setLoginTimeout(int seconds) {
        this.loginTimeout = seconds;
    }

    @Override
    public int getLoginTimeout() {
        return loginTimeout;
    }

    @Override
    public Logger getParentLogger() {
        return Logger.getLogger("io.github.connbroker");
    }

    @Override
    public <T> T unwrap(Class<T> iface) throws SQLException {
        if (iface.isInstance(this)) {
            return iface.cast(this);
        }
        throw new SQLException("ConnbrokerDataSource is not a " + iface.getName());
    }

    @Override
    public boolean isWrapperFor(Class<?> iface) {
        return iface.isInstance(this);
    }

    /** Closes the client if this DataSource made it (brokerAddress); a client passed in stays open. */
    @Override
    public void close() {
        synchronized (this) {
            if (ownsClient && client != null) {
                client.close();
            }
        }
    }

    /** An SQLNonTransientConnectionException with SQLState 08001. */
    private static final class SQLNonTransientConnectionExceptionWithState extends java.sql.SQLNonTransientConnectionException {
        private static final long serialVersionUID = 1L;

        SQLNonTransientConnectionExceptionWithState(String msg) {
            super(msg, "08001");
        }
    }
}
