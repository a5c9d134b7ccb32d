// Compatibility-matrix runner for MySQL Connector/J, run as a single source
// file: java -cp mysql-connector-j.jar Runner.java
//
// stdin: one line per connection, tab-separated:
//   endpoint, dsn, secret_option, secret, ca_file ("" for none), then
//   option=value pairs from the hints' options.
// It connects with nothing but those (the CA is imported into a PKCS12 trust
// store, as the hint's warning says), runs SELECT CURRENT_USER() and prints
// one line per connection: endpoint, "ok" or "fail", the user or the error.
import java.io.BufferedReader;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.Properties;

public class Runner {
    static final String CA_FILE = "{ca_file}";

    public static void main(String[] args) throws Exception {
        Path dir = Files.createTempDirectory("connbroker-cj-");
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        int n = 0;
        while ((line = in.readLine()) != null) {
            if (line.isEmpty()) continue;
            String[] f = line.split("\t", -1);
            String endpoint = f[0], dsn = f[1], secretOption = f[2], secret = f[3], caFile = f[4];
            Properties props = new Properties();
            for (int i = 5; i < f.length; i++) {
                int eq = f[i].indexOf('=');
                props.setProperty(f[i].substring(0, eq), f[i].substring(eq + 1).replace(CA_FILE, caFile));
            }
            props.setProperty(secretOption, secret);
            if (!caFile.isEmpty()) {
                Path ts = dir.resolve("truststore" + (n++) + ".p12");
                trustStore(caFile, ts, "connbroker");
                props.setProperty("trustCertificateKeyStoreUrl", ts.toUri().toString());
                props.setProperty("trustCertificateKeyStoreType", "PKCS12");
                props.setProperty("trustCertificateKeyStorePassword", "connbroker");
            }
            try (Connection c = DriverManager.getConnection(dsn, props);
                 Statement s = c.createStatement();
                 ResultSet rs = s.executeQuery("SELECT CURRENT_USER()")) {
                rs.next();
                System.out.println(endpoint + "\tok\t" + rs.getString(1));
            } catch (Exception e) {
                StringBuilder b = new StringBuilder();
                for (Throwable c = e; c != null && b.length() < 2000; c = c.getCause()) {
                    if (b.length() > 0) b.append(" <- ");
                    b.append(c.getClass().getName()).append(": ").append(c.getMessage());
                }
                String msg = b.toString().replace('\n', ' ').replace('\t', ' ');
                System.out.println(endpoint + "\tfail\t" + msg.substring(0, Math.min(msg.length(), 2000)));
            }
        }
        try (var files = Files.list(dir)) {
            for (Path p : (Iterable<Path>) files::iterator) Files.deleteIfExists(p);
        }
        Files.deleteIfExists(dir);
    }

    // trustStore imports every certificate of a PEM file into a PKCS12 store.
    static void trustStore(String pem, Path out, String password) throws Exception {
        KeyStore ks = KeyStore.getInstance("PKCS12");
        ks.load(null, null);
        CertificateFactory cf = CertificateFactory.getInstance("X.509");
        int i = 0;
        try (FileInputStream fin = new FileInputStream(pem)) {
            for (Certificate c : cf.generateCertificates(fin)) ks.setCertificateEntry("ca" + (i++), c);
        }
        try (FileOutputStream fout = new FileOutputStream(out.toFile())) {
            ks.store(fout, password.toCharArray());
        }
    }
}
