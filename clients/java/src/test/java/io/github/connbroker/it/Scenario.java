package io.github.connbroker.it;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.github.connbroker.BrokerClient;
import io.github.connbroker.BrokerUnavailableException;
import io.github.connbroker.ConnbrokerDataSource;
import io.github.connbroker.ConnbrokerHikari;
import io.github.connbroker.ResilienceStats;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import javax.sql.DataSource;

/**
 * HikariCP against a real broker and real peers, driven by the Go
 * integration test clients/java/java_test.go (run with {@code java -cp}).
 * Prints "key=value" lines on stdout; the Go side checks them and what the
 * peer and the broker saw.
 *
 * <p>Modes (args: MODE BROKER ENDPOINT [WINDOWS WINDOW_MS]):
 * <ul>
 *   <li>{@code windows}: a pool configured with HikariCP's own properties
 *       (the docs/JAVA.md recipe) opens two new physical connections per
 *       refresh window (soft-evicting the old ones), WINDOWS times;
 *   <li>{@code bean}: the Spring {@code @Bean} recipe of docs/JAVA.md, one
 *       connection (the Go side makes the peer refuse the first login with
 *       1045 to check the report and the retry);
 *   <li>{@code outage}: one connection, then "ready" on stdout; after a line
 *       on stdin (the broker is then stopped) three more physical
 *       connections from kept params, and a client whose margin exceeds the
 *       token's lifetime gets BrokerUnavailableException;
 *   <li>{@code replicas}: BROKER is a comma-separated list; 10 physical
 *       connections, "ready", then (one broker is stopped) 20 more;
 *   <li>{@code restart}: one connection, "ready"; (the broker is killed)
 *       three from kept params, "down"; (the broker is restarted on the same
 *       address) connections until the outage is over, "recovered_ms".
 * </ul>
 */
public final class Scenario {
    private Scenario() {}

    public static void main(String[] args) throws Exception {
        String mode = args[0], broker = args[1], endpoint = args[2];
        switch (mode) {
            case "windows" -> windows(broker, endpoint, Integer.parseInt(args[3]), Long.parseLong(args[4]));
            case "bean" -> bean(broker, endpoint);
            case "outage" -> outage(broker, endpoint);
            case "replicas" -> replicas(broker, endpoint);
            case "restart" -> restart(broker, endpoint);
            default -> throw new IllegalArgumentException("unknown mode " + mode);
        }
    }

    static String currentUser(Connection c) throws SQLException {
        try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery("SELECT CURRENT_USER()")) {
            rs.next();
            return rs.getString(1);
        }
    }

    static void out(String key, Object value) {
        System.out.println(key + "=" + String.valueOf(value).replace('\n', ' '));
        System.out.flush();
    }

    static void windows(String broker, String endpoint, int windows, long windowMs) throws Exception {
        // docs/JAVA.md, "HikariCP properties": the same keys as hikari.properties.
        Properties p = new Properties();
        p.setProperty("dataSourceClassName", "io.github.connbroker.ConnbrokerDataSource");
        p.setProperty("dataSource.brokerAddress", broker);
        p.setProperty("dataSource.endpoint", endpoint);
        p.setProperty("dataSource.timeoutMillis", "10000"); // a loaded CI machine; the default is 5000
        p.setProperty("maximumPoolSize", "2");
        p.setProperty("minimumIdle", "0");
        p.setProperty("poolName", "connbroker-" + endpoint);
        int ok = 0;
        List<String> errors = new ArrayList<>();
        ExecutorService pool2 = Executors.newFixedThreadPool(2);
        try (HikariDataSource pool = new HikariDataSource(new HikariConfig(p))) {
            for (int w = 0; w < windows; w++) {
                pool.getHikariPoolMXBean().softEvictConnections(); // the pool's connections of the last window are retired
                CountDownLatch both = new CountDownLatch(2);
                List<Future<String>> fs = new ArrayList<>();
                for (int i = 0; i < 2; i++) {
                    fs.add(pool2.submit(() -> {
                        try (Connection c = pool.getConnection()) {
                            both.countDown();
                            both.await(20, java.util.concurrent.TimeUnit.SECONDS); // two connections at once: two physical ones
                            return currentUser(c);
                        }
                    }));
                }
                for (Future<String> f : fs) {
                    try {
                        out("user", f.get());
                        ok++;
                    } catch (Exception e) {
                        errors.add("window " + w + ": " + e.getCause());
                        both.countDown();
                    }
                }
                if (w < windows - 1) {
                    Thread.sleep(windowMs);
                }
            }
            ConnbrokerDataSource ds = pool.unwrap(ConnbrokerDataSource.class);
            out("physical", ds.physicalConnections());
            out("retries", ds.loginRetries());
            out("stale", ds.client().resilienceStats().staleServes());
            ds.close();
        } finally {
            pool2.shutdownNow();
        }
        for (String e : errors) {
            out("error", e);
        }
        out("ok", ok);
    }

    /**
     * docs/JAVA.md, "Spring Boot": the body of the {@code @Bean} method.
     */
    static DataSource dataSource(String brokerAddress, String endpoint) {
        BrokerClient broker = BrokerClient.newBuilder(brokerAddress).timeout(Duration.ofSeconds(10)).build();
        HikariConfig cfg = ConnbrokerHikari.config(new ConnbrokerDataSource(broker, endpoint));
        cfg.setMaximumPoolSize(10);
        return new HikariDataSource(cfg);
    }

    static void bean(String broker, String endpoint) throws Exception {
        try (HikariDataSource pool = (HikariDataSource) dataSource(broker, endpoint); Connection c = pool.getConnection()) {
            out("user", currentUser(c));
            ConnbrokerDataSource ds = pool.unwrap(ConnbrokerDataSource.class);
            out("physical", ds.physicalConnections());
            out("retries", ds.loginRetries());
            ds.client().close();
        }
        out("ok", 1);
    }

    static void outage(String broker, String endpoint) throws Exception {
        BrokerClient client = BrokerClient.newBuilder(broker).timeout(Duration.ofSeconds(10)).build();
        BrokerClient strict = BrokerClient.newBuilder(broker).timeout(Duration.ofSeconds(10)).staleMargin(Duration.ofHours(1)).build();
        ConnbrokerDataSource ds = new ConnbrokerDataSource(client, endpoint);
        ConnbrokerDataSource strictDs = new ConnbrokerDataSource(strict, endpoint);
        HikariConfig cfg = ConnbrokerHikari.config(ds);
        cfg.setMaximumPoolSize(1);
        cfg.setMinimumIdle(0);
        cfg.setConnectionTimeout(15000);
        try (HikariDataSource pool = new HikariDataSource(cfg)) {
            try (Connection c = pool.getConnection()) {
                out("user", currentUser(c));
            }
            try (Connection c = strictDs.getConnection()) {
                out("strict_user", currentUser(c));
            }
            out("ready", 1);
            new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8)).readLine();
            int ok = 0;
            for (int i = 0; i < 3; i++) {
                pool.getHikariPoolMXBean().softEvictConnections();
                try (Connection c = pool.getConnection()) {
                    out("user", currentUser(c));
                    ok++;
                } catch (SQLException e) {
                    out("error", e);
                }
            }
            try (Connection c = strictDs.getConnection()) {
                out("error", "strict client served expired params");
            } catch (BrokerUnavailableException e) {
                out("strict_unavailable", e.getMessage());
                out("strict_expired_ms", e.expiredAgo().map(Duration::toMillis).orElse(-1L));
            }
            ResilienceStats s = client.resilienceStats();
            out("physical", ds.physicalConnections());
            out("stale", s.staleServes());
            out("outages", s.outages());
            out("ok", ok);
        } finally {
            client.close();
            strict.close();
        }
    }

    static void replicas(String brokers, String endpoint) throws Exception {
        try (BrokerClient client = BrokerClient.newBuilder(brokers).timeout(Duration.ofSeconds(10)).build()) {
            ConnbrokerDataSource ds = new ConnbrokerDataSource(client, endpoint);
            int ok = 0;
            for (int i = 0; i < 30; i++) {
                if (i == 10) {
                    out("ready", 1);
                    new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8)).readLine();
                }
                try (Connection c = ds.getConnection()) {
                    currentUser(c);
                    ok++;
                } catch (SQLException e) {
                    out("error", e);
                }
            }
            out("physical", ds.physicalConnections());
            out("stale", client.resilienceStats().staleServes());
            out("ok", ok);
        }
    }

    static void restart(String broker, String endpoint) throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        try (BrokerClient client = BrokerClient.newBuilder(broker).timeout(Duration.ofSeconds(10)).build()) {
            ConnbrokerDataSource ds = new ConnbrokerDataSource(client, endpoint);
            try (Connection c = ds.getConnection()) {
                out("user", currentUser(c));
            }
            out("ready", 1);
            in.readLine();
            for (int i = 0; i < 3; i++) {
                try (Connection c = ds.getConnection()) {
                    out("user", currentUser(c));
                } catch (SQLException e) {
                    out("error", e);
                }
            }
            out("down", client.resilienceStats().staleServes());
            in.readLine();
            long t0 = System.nanoTime();
            while (client.resilienceStats().currentOutageSince().isPresent()) {
                if (System.nanoTime() - t0 > 20_000_000_000L) {
                    out("error", "no fresh params 20 s after the restart");
                    break;
                }
                try (Connection c = ds.getConnection()) {
                    currentUser(c);
                } catch (SQLException e) {
                    out("error", e);
                }
                Thread.sleep(20);
            }
            out("recovered_ms", (System.nanoTime() - t0) / 1_000_000);
            out("stale", client.resilienceStats().staleServes());
            out("outages", client.resilienceStats().outages());
        }
    }
}
