package io.github.connbroker;

import connbroker.v1.Broker.ConnectionParams;
import connbroker.v1.Broker.DriverHints;
import connbroker.v1.Broker.HintOption;
import connbroker.v1.Broker.TLSMode;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.MessageDigest;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.sql.SQLException;
import java.sql.SQLNonTransientConnectionException;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.Map;
import java.util.Properties;

/**
 * Turns ConnectionParams rendered for driver "connector-j" into a
 * Connector/J URL and connection properties, using only what the broker
 * rendered (broker/driver/connectorj.go): hints.dsn as the URL,
 * hints.options as properties, the secret under hints.secret_option. For a
 * verifying TLS mode with a CA bundle, the CA is imported into a PKCS12
 * trust store and trustCertificateKeyStoreUrl/Type/Password point at it, as
 * the hint's warning says (Connector/J reads no PEM file). Thread-safe.
 */
final class ConnectorJ {
    /** The canonical driver name the broker renders Connector/J hints for. */
    static final String DRIVER = "connector-j";

    private static final String CA_FILE = "{ca_file}";
    private static final String UNSUPPORTED = "unsupported: ";
    /** The trust store holds only public CA certificates; its password protects nothing secret. */
    private static final String STORE_PASSWORD = "connbroker";

    /** A URL and properties for one {@code Driver.connect}; props hold the secret. */
    record Login(String url, Properties props) {
        @Override
        public String toString() {
            return "Login[url=" + url + ", props=<" + props.size() + " properties, secret redacted>]";
        }
    }

    private final Map<String, Path[]> caFiles = new HashMap<>(); // sha256 hex -> {pem, p12}
    private Path dir;

    /**
     * Returns the URL and properties for params.
     *
     * @throws SQLException the params carry no Connector/J hints, or the
     *     broker says Connector/J cannot log in to this endpoint
     */
    Login login(ConnectionParams p) throws SQLException {
        if (!p.hasHints() || !DRIVER.equals(p.getHints().getDriver())) {
            throw new SQLNonTransientConnectionException("params for endpoint \"" + p.getEndpoint() + "\" carry no " + DRIVER
                    + " hints (got driver \"" + p.getHints().getDriver() + "\")", "08001");
        }
        DriverHints h = p.getHints();
        for (String w : h.getWarningsList()) {
            if (w.startsWith(UNSUPPORTED)) {
                throw new SQLNonTransientConnectionException("endpoint \"" + p.getEndpoint() + "\": " + w, "08001");
            }
        }
        Path[] ca = null;
        String pem = p.getTls().getCaPem();
        boolean verifies = p.getTls().getMode() == TLSMode.TLS_MODE_VERIFY_CA || p.getTls().getMode() == TLSMode.TLS_MODE_VERIFY_IDENTITY;
        if (!pem.isEmpty()) {
            ca = caFiles(pem);
        }
        String caPath = ca != null ? ca[0].toString() : "";
        Properties props = new Properties();
        for (HintOption o : h.getOptionsList()) {
            switch (o.getValueCase()) {
                case STRING_VALUE -> props.setProperty(o.getName(), o.getStringValue().replace(CA_FILE, caPath));
                case INT_VALUE -> props.setProperty(o.getName(), Long.toString(o.getIntValue()));
                case BOOL_VALUE -> props.setProperty(o.getName(), Boolean.toString(o.getBoolValue()));
                default -> throw new SQLNonTransientConnectionException("hint option " + o.getName() + " of endpoint \""
                        + p.getEndpoint() + "\" is a nested group, which Connector/J has no use for", "08001");
            }
        }
        if (ca != null && verifies) {
            props.setProperty("trustCertificateKeyStoreUrl", ca[1].toUri().toString());
            props.setProperty("trustCertificateKeyStoreType", "PKCS12");
            props.setProperty("trustCertificateKeyStorePassword", STORE_PASSWORD);
        }
        String secretOption = h.getSecretOption().isEmpty() ? "password" : h.getSecretOption();
        props.setProperty(secretOption, p.getCredential().getSecret());
        String url = h.getDsn().replace(CA_FILE, caPath);
        if (url.isEmpty()) {
            throw new SQLNonTransientConnectionException("hints for endpoint \"" + p.getEndpoint() + "\" have no dsn", "08001");
        }
        return new Login(url, props);
    }

    /** Returns the PEM file and the PKCS12 trust store for a CA bundle, written once per bundle. */
    private synchronized Path[] caFiles(String pem) throws SQLException {
        try {
            String sum = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(pem.getBytes(StandardCharsets.UTF_8)));
            Path[] have = caFiles.get(sum);
            if (have != null && Files.exists(have[1])) {
                return have;
            }
            if (dir == null || !Files.isDirectory(dir)) {
                dir = Files.createTempDirectory("connbroker-java-", PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
                dir.toFile().deleteOnExit();
            }
            Path pemFile = dir.resolve(sum.substring(0, 16) + ".pem");
            Path store = dir.resolve(sum.substring(0, 16) + ".p12");
            Files.writeString(pemFile, pem);
            KeyStore ks = KeyStore.getInstance("PKCS12");
            ks.load(null, null);
            int i = 0;
            for (Certificate c : CertificateFactory.getInstance("X.509").generateCertificates(new ByteArrayInputStream(pem.getBytes(StandardCharsets.UTF_8)))) {
                ks.setCertificateEntry("ca" + (i++), c);
            }
            if (i == 0) {
                throw new SQLNonTransientConnectionException("tls.ca_pem holds no certificate", "08001");
            }
            Path tmp = dir.resolve(sum.substring(0, 16) + ".p12.tmp");
            try (OutputStream out = Files.newOutputStream(tmp)) {
                ks.store(out, STORE_PASSWORD.toCharArray());
            }
            Files.move(tmp, store, java.nio.file.StandardCopyOption.ATOMIC_MOVE, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            pemFile.toFile().deleteOnExit();
            store.toFile().deleteOnExit();
            Path[] out = {pemFile, store};
            caFiles.put(sum, out);
            return out;
        } catch (IOException | GeneralSecurityException e) {
            throw new SQLNonTransientConnectionException("write the CA bundle into a trust store: " + e, "08001", e);
        }
    }
}
