package io.github.connbroker;

import connbroker.v1.Broker.ClientEnvironment;
import connbroker.v1.Broker.ClientPackage;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;

/**
 * The environment report for the broker's inventory (docs/INVENTORY.md):
 * this process's driver, Connector/J, and its version (from the jar), HikariCP
 * and its version when it is on the class path, the JVM ("OpenJDK 17.0.13")
 * and the trust store Connector/J falls back to (ca_bundle: the
 * {@code javax.net.ssl.trustStore} file when that property is set, else the
 * JVM's own {@code jssecacerts} or {@code cacerts}). Never a password (the
 * trust store's password is not read), nothing else about the host.
 *
 * <p>{@link BrokerClient} sends it with the first GetConnectionParams per
 * process, endpoint and driver, and again only when it changes (the
 * trust-store system properties are set or changed); it counts as sent only
 * once the broker answered. One per process ({@link #PROCESS}), shared by
 * every BrokerClient, as in the Go, Python and Node helpers. Thread-safe.
 */
final class EnvironmentReporter {
    /** The process's reporter, shared by every {@link BrokerClient}. */
    static final EnvironmentReporter PROCESS = new EnvironmentReporter();

    /** The Maven coordinates of Connector/J, as broker/driver/connectorj.go names its package. */
    static final String CONNECTOR_J = "com.mysql:mysql-connector-j";
    /** The Maven coordinates of HikariCP. */
    static final String HIKARICP = "com.zaxxer:HikariCP";

    /** The system properties that choose the JVM's default trust store; their values change the report. */
    static final String[] TRUST_STORE_PROPERTIES = {"javax.net.ssl.trustStore", "javax.net.ssl.trustStoreType"};

    /** A report to send with one request, and the key to hand to {@link #sent} once the broker answered. */
    record Due(ClientEnvironment environment, String key) {}

    private final Map<String, String> sent = new HashMap<>(); // endpoint/driver -> key reported
    private final Map<String, String> pending = new HashMap<>(); // endpoint/driver -> key of a request in flight
    private String key;
    private ClientEnvironment env;

    /**
     * Returns the report to send with a request for endpoint and driver, or
     * null when the same one was sent already or rides on a request still in
     * flight (so a pool opening several connections at once reports once).
     * A non-null result must be followed by {@link #done}.
     */
    Due due(String endpoint, String driver) {
        String k = currentKey();
        String at = KeptParams.key(endpoint, driver);
        synchronized (this) {
            if (k.equals(sent.get(at)) || k.equals(pending.get(at))) {
                return null;
            }
            pending.put(at, k);
            if (env == null || !k.equals(key)) {
                env = collect();
                key = k;
            }
            return new Due(env, k);
        }
    }

    /**
     * Records the end of a request carrying the report with {@code key}:
     * sent when the broker answered, else due again with the next request.
     */
    synchronized void done(String endpoint, String driver, String key, boolean answered) {
        String at = KeptParams.key(endpoint, driver);
        if (key.equals(pending.get(at))) {
            pending.remove(at);
        }
        if (answered) {
            sent.put(at, key);
        }
    }

    /** Forgets what was sent and collected (tests). */
    synchronized void reset() {
        sent.clear();
        pending.clear();
        env = null;
        key = null;
    }

    /** The values of the trust-store properties: the report changes when they do. */
    private static String currentKey() {
        StringBuilder b = new StringBuilder();
        for (String p : TRUST_STORE_PROPERTIES) {
            String v = System.getProperty(p);
            if (v != null) {
                b.append(p).append('=').append(v).append('\0');
            }
        }
        return b.toString();
    }

    /** Collects this process's environment (no client time: the inventory does not keep it). */
    static ClientEnvironment collect() {
        ClientEnvironment.Builder b = ClientEnvironment.newBuilder().setDriver(ConnectorJ.DRIVER).setRuntime(runtime());
        b.addPackages(ClientPackage.newBuilder().setName(CONNECTOR_J).setVersion(connectorJVersion()));
        String hikari = pomVersion("com.zaxxer", "HikariCP", "com.zaxxer.hikari.HikariConfig");
        if (hikari != null) {
            b.addPackages(ClientPackage.newBuilder().setName(HIKARICP).setVersion(hikari));
        }
        b.setCaBundle(trustStore());
        return b.build();
    }

    /** Returns "OpenJDK 17.0.13": the runtime's name without "Runtime Environment", and java.version. */
    static String runtime() {
        String name = Objects.requireNonNullElse(System.getProperty("java.runtime.name"), "Java").replace(" Runtime Environment", "").strip();
        return name + " " + Objects.requireNonNullElse(System.getProperty("java.version"), Runtime.version().toString());
    }

    /**
     * Returns Connector/J's version from the jar on the class path
     * (com.mysql.cj.Constants.CJ_VERSION, read reflectively: a constant
     * would be compiled into this class), else its manifest's
     * Implementation-Version; empty when neither is there.
     */
    static String connectorJVersion() {
        try {
            Class<?> c = Class.forName("com.mysql.cj.Constants", false, EnvironmentReporter.class.getClassLoader());
            Object v = c.getField("CJ_VERSION").get(null);
            if (v instanceof String s && !s.isEmpty() && !s.startsWith("@")) {
                return s;
            }
            String impl = c.getPackage() != null ? c.getPackage().getImplementationVersion() : null;
            return impl != null ? impl : "";
        } catch (ReflectiveOperationException | LinkageError e) {
            return "";
        }
    }

    /**
     * Returns the version in the jar's META-INF/maven pom.properties for
     * group:artifact when {@code probeClass} is on the class path, else its
     * package's Implementation-Version; null when the class is not there.
     */
    static String pomVersion(String group, String artifact, String probeClass) {
        ClassLoader cl = EnvironmentReporter.class.getClassLoader();
        Class<?> c;
        try {
            c = Class.forName(probeClass, false, cl);
        } catch (ClassNotFoundException | LinkageError e) {
            return null;
        }
        try (InputStream in = c.getResourceAsStream("/META-INF/maven/" + group + "/" + artifact + "/pom.properties")) {
            if (in != null) {
                Properties p = new Properties();
                p.load(in);
                String v = p.getProperty("version");
                if (v != null && !v.isEmpty()) {
                    return v;
                }
            }
        } catch (IOException e) {
            // fall back to the manifest
        }
        String impl = c.getPackage() != null ? c.getPackage().getImplementationVersion() : null;
        return impl != null ? impl : "";
    }

    /**
     * Returns the trust store the JVM verifies servers with by default, which
     * Connector/J falls back to without trustCertificateKeyStoreUrl: the
     * javax.net.ssl.trustStore property when set, else
     * {@code $java.home/lib/security/jssecacerts} or {@code cacerts} (the
     * JSSE order), empty when none exists.
     */
    static String trustStore() {
        String set = System.getProperty("javax.net.ssl.trustStore");
        if (set != null && !set.isEmpty()) {
            return set;
        }
        String home = System.getProperty("java.home");
        if (home == null) {
            return "";
        }
        for (String f : new String[] {"jssecacerts", "cacerts"}) {
            Path p = Path.of(home, "lib", "security", f);
            if (Files.exists(p)) {
                return p.toString();
            }
        }
        return "";
    }
}
