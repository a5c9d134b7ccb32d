package io.github.connbroker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import connbroker.v1.Broker.ConnectionParams;
import connbroker.v1.Broker.Credential;
import connbroker.v1.Broker.DriverHints;
import connbroker.v1.Broker.HintOption;
import connbroker.v1.Broker.TLSMode;
import connbroker.v1.Broker.TLSSettings;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.sql.SQLException;
import java.util.Base64;
import java.util.Properties;
import org.junit.jupiter.api.Test;

/** Hints rendered for connector-j (broker/driver/connectorj.go) into a URL and properties. */
class ConnectorJTest {
    // A self-signed CA certificate (public test data, no key).
    static final String CA_PEM = """
            -----BEGIN CERTIFICATE-----
            MIIBdzCCAR2gAwIBAgIUBj6v5n7b1l7z0v8Jq7t4WbU9lXcwCgYIKoZIzj0EAwIw
            ETEPMA0GA1UEAwwGdGVzdGNhMB4XDTI2MDEwMTAwMDAwMFoXDTM2MDEwMTAwMDAw
            MFowETEPMA0GA1UEAwwGdGVzdGNhMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE
            -----END CERTIFICATE-----
            """;

    static ConnectionParams.Builder params(TLSMode mode, String caPem) {
        return ConnectionParams.newBuilder().setEndpoint("orders").setHost("db.internal").setPort(3306).setUser("app")
                .setCredential(Credential.newBuilder().setSecret("s3cret&x=y"))
                .setTls(TLSSettings.newBuilder().setMode(mode).setCaPem(caPem))
                .setHints(DriverHints.newBuilder().setDriver("connector-j").setSecretOption("password")
                        .setDsn("jdbc:mysql://db.internal:3306/app?sslMode=VERIFY_IDENTITY")
                        .addOptions(HintOption.newBuilder().setName("allowPublicKeyRetrieval").setBoolValue(true))
                        .addOptions(HintOption.newBuilder().setName("sslMode").setStringValue("VERIFY_IDENTITY"))
                        .addOptions(HintOption.newBuilder().setName("user").setStringValue("app")));
    }

    @Test
    void urlAndPropertiesComeFromTheHints() throws SQLException {
        ConnectorJ.Login l = new ConnectorJ().login(params(TLSMode.TLS_MODE_REQUIRED, "").build());
        assertEquals("jdbc:mysql://db.internal:3306/app?sslMode=VERIFY_IDENTITY", l.url());
        Properties want = new Properties();
        want.setProperty("allowPublicKeyRetrieval", "true");
        want.setProperty("sslMode", "VERIFY_IDENTITY");
        want.setProperty("user", "app");
        want.setProperty("password", "s3cret&x=y");
        assertEquals(want, l.props());
        assertFalse(l.toString().contains("s3cret"), l.toString());
    }

    @Test
    void caBundleBecomesATrustStore() throws Exception {
        String pem = realCaPem();
        ConnectorJ cj = new ConnectorJ();
        ConnectorJ.Login l = cj.login(params(TLSMode.TLS_MODE_VERIFY_IDENTITY, pem).build());
        Path store = Path.of(URI.create(l.props().getProperty("trustCertificateKeyStoreUrl")));
        assertEquals("PKCS12", l.props().getProperty("trustCertificateKeyStoreType"));
        KeyStore ks = KeyStore.getInstance("PKCS12");
        try (var in = Files.newInputStream(store)) {
            ks.load(in, l.props().getProperty("trustCertificateKeyStorePassword").toCharArray());
        }
        assertEquals(1, ks.size());
        assertEquals("rwx------", java.nio.file.attribute.PosixFilePermissions.toString(Files.getPosixFilePermissions(store.getParent())));
        // The same bundle again: the same store, not a new file.
        assertEquals(l.props().getProperty("trustCertificateKeyStoreUrl"),
                cj.login(params(TLSMode.TLS_MODE_VERIFY_IDENTITY, pem).build()).props().getProperty("trustCertificateKeyStoreUrl"));
        // Not verifying: no trust store.
        assertFalse(cj.login(params(TLSMode.TLS_MODE_REQUIRED, pem).build()).props().containsKey("trustCertificateKeyStoreUrl"));
    }

    @Test
    void refusesWhatTheBrokerSaysCannotWork() {
        var unsupported = params(TLSMode.TLS_MODE_REQUIRED, "");
        unsupported.getHintsBuilder().addWarnings("unsupported: Connector/J has no client_ed25519 plugin (MariaDB Connector/J has)");
        SQLException e = assertThrows(SQLException.class, () -> new ConnectorJ().login(unsupported.build()));
        assertTrue(e.getMessage().contains("client_ed25519"), e.getMessage());

        var other = params(TLSMode.TLS_MODE_REQUIRED, "");
        other.getHintsBuilder().setDriver("pymysql");
        assertThrows(SQLException.class, () -> new ConnectorJ().login(other.build()));

        assertThrows(SQLException.class, () -> new ConnectorJ().login(params(TLSMode.TLS_MODE_VERIFY_CA, CA_PEM).build()));
    }

    /** A real CA certificate, made with the JDK's keytool-free API: the JDK's own cacerts' first entry. */
    static String realCaPem() throws Exception {
        KeyStore ks = KeyStore.getInstance(KeyStore.getDefaultType());
        Path cacerts = Path.of(System.getProperty("java.home"), "lib", "security", "cacerts");
        try (var in = Files.newInputStream(cacerts)) {
            ks.load(in, null);
        }
        var cert = ks.getCertificate(ks.aliases().nextElement());
        return "-----BEGIN CERTIFICATE-----\n" + Base64.getMimeEncoder(64, "\n".getBytes()).encodeToString(cert.getEncoded())
                + "\n-----END CERTIFICATE-----\n";
    }
}
