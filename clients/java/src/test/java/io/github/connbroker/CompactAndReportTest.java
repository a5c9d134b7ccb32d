package io.github.connbroker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import com.google.protobuf.CodedOutputStream;
import connbroker.v1.Broker.AuthMethod;
import connbroker.v1.Broker.ClientEnvironment;
import connbroker.v1.Broker.ClientPackage;
import connbroker.v1.Broker.ConnectionParams;
import connbroker.v1.Broker.Credential;
import connbroker.v1.Broker.DriverHints;
import connbroker.v1.Broker.GetConnectionParamsRequest;
import connbroker.v1.Broker.GetConnectionParamsResponse;
import connbroker.v1.Broker.HintOption;
import connbroker.v1.Broker.ParamOptionNames;
import connbroker.v1.Broker.TLSMode;
import connbroker.v1.Broker.TLSSettings;
import connbroker.v1.BrokerServiceGrpc;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.StreamObserver;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Compact requests (known_ca_sha256, omit_param_options, known_view_sha256)
 * and the inventory report, against an in-process server that answers as
 * the broker does (server/params.go, server/paramscache.go): the PEM left
 * out when the digest matches, the options repeating ConnectionParams
 * fields left out when asked, every response naming its view's digest and
 * only the credential sent when the request names the current one. The
 * real broker is in clients/java/java_test.go.
 */
class CompactAndReportTest {
    static final String PEM_A = "-----BEGIN CERTIFICATE-----\nQUFB\n-----END CERTIFICATE-----\n";
    static final String PEM_B = "-----BEGIN CERTIFICATE-----\nQkJC\n-----END CERTIFICATE-----\n";
    static final String HOST = "db.example";
    static final String SECRET = "s3cret";

    /** A broker with one CA bundle (or none) that answers compact requests as the real one does. */
    static final class Broker extends BrokerServiceGrpc.BrokerServiceImplBase {
        final List<GetConnectionParamsRequest> requests = new CopyOnWriteArrayList<>();
        final List<Integer> responseBytes = new CopyOnWriteArrayList<>();
        final AtomicReference<String> pem = new AtomicReference<>(PEM_A);
        final AtomicReference<String> host = new AtomicReference<>(HOST);
        final AtomicReference<String> secret = new AtomicReference<>(SECRET);
        /** Whether responses name their view (the real broker's do, but for a stale credential). */
        final AtomicBoolean digests = new AtomicBoolean(true);
        final AtomicReference<Status> fail = new AtomicReference<>();
        /** When set, answers with this instead (a broken broker). */
        final AtomicReference<ConnectionParams> override = new AtomicReference<>();
        /** When set, runs before a request that names a view is answered. */
        final AtomicReference<Runnable> onViewNamed = new AtomicReference<>();

        @Override
        public void getConnectionParams(GetConnectionParamsRequest req, StreamObserver<GetConnectionParamsResponse> out) {
            requests.add(req);
            if (fail.get() != null) {
                out.onError(fail.get().asRuntimeException());
                return;
            }
            if (!req.getKnownViewSha256().isEmpty() && onViewNamed.get() != null) {
                onViewNamed.get().run();
            }
            ConnectionParams p = override.get() != null ? override.get() : render(req, pem.get(), host.get(), secret.get(), digests.get());
            GetConnectionParamsResponse resp = GetConnectionParamsResponse.newBuilder().setParams(p).build();
            responseBytes.add(resp.getSerializedSize());
            out.onNext(resp);
            out.onCompleted();
        }

        /**
         * The params for req: complete unless req asks for compact ones,
         * named by their view's digest when digest is set, and only the
         * credential when req names that digest.
         */
        static ConnectionParams render(GetConnectionParamsRequest req, String pem, String host, String secret, boolean digest) {
            ConnectionParams.Builder p = ConnectionParams.newBuilder().setEndpoint(req.getEndpoint())
                    .setCredential(Credential.newBuilder().setSecret(secret));
            ConnectionParams full = view(req, pem, host, false);
            if (digest) {
                ByteString sum = viewSha256(full);
                if (sum.equals(req.getKnownViewSha256())) {
                    return p.setViewSha256(sum).setViewOmitted(true).build();
                }
                p.setViewSha256(sum);
            }
            return p.mergeFrom(view(req, pem, host, true)).build();
        }

        /** The view (every field but endpoint and credential); compact when req asks and compact is set. */
        static ConnectionParams view(GetConnectionParamsRequest req, String pem, String host, boolean compact) {
            ConnectionParams.Builder p = ConnectionParams.newBuilder().setHost(host).setPort(3306).setUser("app").setDatabase("orders");
            TLSSettings.Builder tls = p.getTlsBuilder().setMode(TLSMode.TLS_MODE_VERIFY_IDENTITY).setServerName(host);
            if (pem != null) {
                ByteString sum = CaStore.sha256(pem);
                tls.setCaSha256(sum);
                if (!compact || !sum.equals(req.getKnownCaSha256())) {
                    tls.setCaPem(pem);
                }
            }
            DriverHints.Builder h = p.getHintsBuilder().setDriver(ConnectorJ.DRIVER).setSecretOption("password")
                    .setDsn("jdbc:mysql://" + host + ":3306/orders?sslMode=VERIFY_IDENTITY");
            h.addOptions(HintOption.newBuilder().setName("sslMode").setStringValue("VERIFY_IDENTITY"));
            if (compact && req.getOmitParamOptions()) {
                h.setParamOptions(ParamOptionNames.newBuilder().setUser("user"));
            } else {
                h.addOptions(HintOption.newBuilder().setName("user").setStringValue("app"));
            }
            p.getResolutionBuilder().setMethod(AuthMethod.AUTH_METHOD_PASSWORD).setPlugin("caching_sha2_password");
            return p.build();
        }

        /** The SHA-256 of a complete view in deterministic wire form (server/paramscache.go viewDigest). */
        static ByteString viewSha256(ConnectionParams view) {
            try {
                ByteArrayOutputStream b = new ByteArrayOutputStream();
                CodedOutputStream out = CodedOutputStream.newInstance(b);
                out.useDeterministicSerialization();
                view.writeTo(out);
                out.flush();
                return ByteString.copyFrom(MessageDigest.getInstance("SHA-256").digest(b.toByteArray()));
            } catch (IOException | NoSuchAlgorithmException e) {
                throw new IllegalStateException(e);
            }
        }
    }

    Broker broker;
    Server server;
    ManagedChannel channel;
    EnvironmentReporter reporter;
    BrokerClient client;

    @BeforeEach
    void start() throws Exception {
        broker = new Broker();
        String name = InProcessServerBuilder.generateName();
        server = InProcessServerBuilder.forName(name).directExecutor().addService(broker).build().start();
        channel = InProcessChannelBuilder.forName(name).directExecutor().build();
        reporter = new EnvironmentReporter();
        client = BrokerClient.newBuilder("in-process:" + name).channel(channel).reporter(reporter).timeout(Duration.ofSeconds(2)).build();
    }

    @AfterEach
    void stop() {
        client.close();
        server.shutdownNow();
    }

    /** What a client that asks for complete params gets: what connectionParams must return. */
    static ConnectionParams whole(String endpoint, String pem) {
        return whole(endpoint, pem, HOST, SECRET, true);
    }

    static ConnectionParams whole(String endpoint, String pem, String host, String secret, boolean digest) {
        return Broker.render(GetConnectionParamsRequest.newBuilder().setEndpoint(endpoint).build(), pem, host, secret, digest);
    }

    @Test
    void repeatRequestsNameTheCAHeldAndGetSmallResponses() throws Exception {
        broker.digests.set(false); // no view digest: the CA and the options alone make the repeat small
        ConnectionParams first = client.connectionParams("orders", "connector-j");
        ConnectionParams second = client.connectionParams("orders", "connector-j");
        assertEquals(whole("orders", PEM_A, HOST, SECRET, false), first);
        assertEquals(whole("orders", PEM_A, HOST, SECRET, false), second, "the PEM and the user option are put back");

        GetConnectionParamsRequest r0 = broker.requests.get(0), r1 = broker.requests.get(1);
        assertTrue(r0.getOmitParamOptions() && r1.getOmitParamOptions());
        assertTrue(r0.getKnownCaSha256().isEmpty(), "nothing held yet");
        assertEquals(CaStore.sha256(PEM_A), r1.getKnownCaSha256());
        assertTrue(r1.getKnownViewSha256().isEmpty(), "no view was named by the broker");
        int full = whole("orders", PEM_A, HOST, SECRET, false).getSerializedSize();
        int repeat = broker.responseBytes.get(1);
        assertTrue(repeat < full - PEM_A.length(), "repeat response " + repeat + " bytes, complete params " + full);

        // The endpoint's CA rotates: the old digest no longer matches, the new PEM comes and is held.
        broker.pem.set(PEM_B);
        assertEquals(whole("orders", PEM_B, HOST, SECRET, false), client.connectionParams("orders", "connector-j"));
        assertEquals(CaStore.sha256(PEM_A), broker.requests.get(2).getKnownCaSha256());
        assertEquals(whole("orders", PEM_B, HOST, SECRET, false), client.connectionParams("orders", "connector-j"));
        assertEquals(CaStore.sha256(PEM_B), broker.requests.get(3).getKnownCaSha256());

        // Another endpoint has its own bundle: nothing held for it yet.
        client.connectionParams("billing", "connector-j");
        assertTrue(broker.requests.get(4).getKnownCaSha256().isEmpty());

        // The CA is dropped (system trust store): no digest is sent after that.
        broker.pem.set(null);
        assertEquals(whole("orders", null, HOST, SECRET, false), client.connectionParams("orders", "connector-j"));
        client.connectionParams("orders", "connector-j");
        assertTrue(broker.requests.get(6).getKnownCaSha256().isEmpty());
    }

    @Test
    void repeatRequestsNameTheViewAndGetTheCredentialOnly() throws Exception {
        ConnectionParams first = client.connectionParams("orders", "connector-j");
        assertEquals(whole("orders", PEM_A), first);
        assertEquals(32, first.getViewSha256().size(), "the broker names the view");
        broker.secret.set("rotated");
        ConnectionParams second = client.connectionParams("orders", "connector-j");

        GetConnectionParamsRequest r1 = broker.requests.get(1);
        assertEquals(first.getViewSha256(), r1.getKnownViewSha256(), "the repeat request names the view held");
        assertEquals(CaStore.sha256(PEM_A), r1.getKnownCaSha256());
        ConnectionParams onWire = Broker.render(r1, PEM_A, HOST, "rotated", true);
        assertTrue(onWire.getViewOmitted() && !onWire.hasHints() && !onWire.hasTls() && onWire.getHost().isEmpty(), "the view was sent again: " + onWire);
        int repeat = broker.responseBytes.get(1);
        assertTrue(repeat < 80, "repeat response " + repeat + " bytes, first " + broker.responseBytes.get(0));

        assertEquals("rotated", second.getCredential().getSecret(), "the credential sent is the one returned");
        assertEquals(first.toBuilder().setCredential(second.getCredential()).build(), second, "the rest is the view held");
        assertFalse(second.getViewOmitted());
        assertEquals(whole("orders", PEM_A, HOST, "rotated", true), second);
        assertEquals(second, client.connectionParams("orders", "connector-j"), "a view restored is held as it was");
        assertEquals(first.getViewSha256(), broker.requests.get(2).getKnownViewSha256());

        // Kept params are whole too: served while the broker is away.
        broker.fail.set(Status.UNAVAILABLE);
        assertEquals(second, client.connectionParams("orders", "connector-j"));
        broker.fail.set(null);

        // Another driver for the endpoint has its own view: none held yet.
        client.connectionParams("orders", "other-driver");
        assertTrue(broker.requests.get(4).getKnownViewSha256().isEmpty());

        // The view changes (a config reload): another digest, so the whole params, held from then on.
        broker.host.set("db2.example");
        ConnectionParams moved = client.connectionParams("orders", "connector-j");
        assertEquals(whole("orders", PEM_A, "db2.example", "rotated", true), moved);
        assertEquals(first.getViewSha256(), broker.requests.get(5).getKnownViewSha256());
        assertFalse(moved.getViewSha256().equals(first.getViewSha256()));
        assertEquals(moved, client.connectionParams("orders", "connector-j"));
        assertEquals(moved.getViewSha256(), broker.requests.get(6).getKnownViewSha256());

        // A response without a digest (a stale credential) drops the view held.
        broker.digests.set(false);
        assertEquals(whole("orders", PEM_A, "db2.example", "rotated", false), client.connectionParams("orders", "connector-j"));
        assertEquals(moved.getViewSha256(), broker.requests.get(7).getKnownViewSha256());
        broker.digests.set(true);
        assertEquals(moved, client.connectionParams("orders", "connector-j"));
        assertTrue(broker.requests.get(8).getKnownViewSha256().isEmpty(), "a view dropped is not named");
        assertEquals(9, broker.requests.size());
    }

    @Test
    void aViewNotHeldIsAskedForOnceWhole() throws Exception {
        ConnectionParams first = client.connectionParams("orders", "connector-j");
        // The view held is dropped after the request named it (as when
        // another call replaced it meanwhile): the broker leaves out a view
        // the client no longer holds.
        broker.onViewNamed.set(() -> client.compactStore().forgetView("orders", "connector-j"));
        assertEquals(first, client.connectionParams("orders", "connector-j"));
        List<GetConnectionParamsRequest> r = broker.requests;
        assertEquals(3, r.size(), "one request more, whole");
        assertEquals(first.getViewSha256(), r.get(1).getKnownViewSha256());
        assertTrue(r.get(2).getKnownViewSha256().isEmpty(), "asked again without a digest");
        assertEquals(CaStore.sha256(PEM_A), r.get(2).getKnownCaSha256(), "still compact otherwise");
        assertFalse(broker.responseBytes.get(2) < 100, "the whole view came again");
        broker.onViewNamed.set(null);
        assertEquals(first, client.connectionParams("orders", "connector-j"));
        assertEquals(first.getViewSha256(), r.get(3).getKnownViewSha256(), "the view asked for again is held");

        // A broker that leaves out a view it was not asked for: one whole request, then INTERNAL.
        ByteString other = CaStore.sha256("another view");
        broker.override.set(ConnectionParams.newBuilder().setEndpoint("orders").setCredential(Credential.newBuilder().setSecret(SECRET))
                .setViewSha256(other).setViewOmitted(true).build());
        BrokerException e = assertThrows(BrokerException.class, () -> client.connectionParams("orders", "connector-j"));
        assertEquals(Status.Code.INTERNAL, e.code());
        assertTrue(e.getMessage().contains("view this client does not hold"), e.getMessage());
        assertFalse(e.getMessage().contains(SECRET));
        assertEquals(6, r.size(), "exactly one whole request after the unknown view");
        assertEquals(first.getViewSha256(), r.get(4).getKnownViewSha256());
        assertTrue(r.get(5).getKnownViewSha256().isEmpty());
        broker.override.set(null);
        assertEquals(first, client.connectionParams("orders", "connector-j"));
        assertTrue(r.get(6).getKnownViewSha256().isEmpty(), "nothing held after the refusal");
    }

    @Test
    void keptParamsAreWhole() throws Exception {
        client.connectionParams("orders", "connector-j");
        client.connectionParams("orders", "connector-j"); // compact response, kept whole
        broker.fail.set(Status.UNAVAILABLE);
        assertEquals(whole("orders", PEM_A), client.connectionParams("orders", "connector-j"));
        assertEquals(1, client.resilienceStats().staleServes());
    }

    @Test
    void refusesAResponseThatCannotBeMadeWhole() throws Exception {
        ConnectionParams unknown = whole("orders", null).toBuilder()
                .setTls(TLSSettings.newBuilder().setMode(TLSMode.TLS_MODE_VERIFY_IDENTITY).setCaSha256(CaStore.sha256(PEM_B))).build();
        broker.override.set(unknown);
        BrokerException e = assertThrows(BrokerException.class, () -> client.connectionParams("orders", "connector-j"));
        assertEquals(Status.Code.INTERNAL, e.code());
        assertTrue(e.getMessage().contains("does not hold"), e.getMessage());

        ConnectionParams mismatch = whole("orders", PEM_A).toBuilder()
                .setTls(whole("orders", PEM_A).getTls().toBuilder().setCaSha256(CaStore.sha256(PEM_B))).build();
        broker.override.set(mismatch);
        e = assertThrows(BrokerException.class, () -> client.connectionParams("orders", "connector-j"));
        assertTrue(e.getMessage().contains("does not match"), e.getMessage());
        assertFalse(e.getMessage().contains("s3cret"));
        broker.override.set(null);
        client.connectionParams("orders", "connector-j");
        assertTrue(broker.requests.get(2).getKnownCaSha256().isEmpty(), "a refused bundle is not held");
    }

    @Test
    void optionsPutBackSortedAndDatabaseOnlyWhenSet() {
        ConnectionParams.Builder p = ConnectionParams.newBuilder().setHost("h").setPort(3307).setUser("u");
        p.getHintsBuilder().addOptions(HintOption.newBuilder().setName("sslMode").setStringValue("REQUIRED"))
                .setParamOptions(ParamOptionNames.newBuilder().setHost("host").setPort("port").setUser("user").setDatabase("db"));
        CaStore.completeOptions(p);
        assertFalse(p.getHints().hasParamOptions());
        assertEquals(List.of("host", "port", "sslMode", "user"), p.getHints().getOptionsList().stream().map(HintOption::getName).toList());
        assertEquals(3307, p.getHints().getOptions(1).getIntValue());
    }

    @Test
    void reportRidesOnTheFirstAnsweredRequestPerEndpointAndAgainWhenItChanges() throws Exception {
        broker.fail.set(Status.UNAVAILABLE);
        assertThrows(BrokerUnavailableException.class, () -> client.connectionParams("orders", "connector-j"));
        broker.fail.set(null);
        client.connectionParams("orders", "connector-j");
        client.connectionParams("orders", "connector-j");
        client.connectionParams("billing", "connector-j");
        List<GetConnectionParamsRequest> r = broker.requests;
        assertTrue(r.get(0).hasClientEnvironment(), "first request");
        assertTrue(r.get(1).hasClientEnvironment(), "the first was not answered: sent again");
        assertFalse(r.get(2).hasClientEnvironment(), "sent and answered already");
        assertTrue(r.get(3).hasClientEnvironment(), "another endpoint");

        ClientEnvironment env = r.get(1).getClientEnvironment();
        assertEquals("connector-j", env.getDriver());
        assertFalse(env.hasClientTime(), "the inventory keeps no client clock");
        assertEquals(EnvironmentReporter.trustStore(), env.getCaBundle());
        assertTrue(env.getRuntime().endsWith(" " + System.getProperty("java.version")), env.getRuntime());
        ClientPackage cj = env.getPackages(0);
        assertEquals(EnvironmentReporter.CONNECTOR_J, cj.getName());
        assertTrue(cj.getVersion().matches("\\d+\\.\\d+\\.\\d+.*"), "Connector/J version " + cj.getVersion());
        // HikariCP is on the test class path (an optional dependency).
        ClientPackage hikari = env.getPackagesList().stream().filter(p -> p.getName().equals(EnvironmentReporter.HIKARICP)).findFirst().orElse(null);
        assertNotNull(hikari, "HikariCP in " + env.getPackagesList());
        assertTrue(hikari.getVersion().matches("\\d+\\.\\d+\\.\\d+.*"), "HikariCP version " + hikari.getVersion());

        // The trust store is set (with a password, never sent): a new report, once.
        String store = System.getProperty("javax.net.ssl.trustStore"), pw = System.getProperty("javax.net.ssl.trustStorePassword");
        try {
            System.setProperty("javax.net.ssl.trustStore", "/etc/app/truststore.p12");
            System.setProperty("javax.net.ssl.trustStorePassword", "truststore-pw-never-sent");
            client.connectionParams("orders", "connector-j");
            client.connectionParams("orders", "connector-j");
        } finally {
            restore("javax.net.ssl.trustStore", store);
            restore("javax.net.ssl.trustStorePassword", pw);
        }
        assertTrue(r.get(4).hasClientEnvironment(), "the trust store changed");
        assertEquals("/etc/app/truststore.p12", r.get(4).getClientEnvironment().getCaBundle());
        assertFalse(r.get(5).hasClientEnvironment());
        for (GetConnectionParamsRequest q : r) {
            assertFalse(q.toByteString().toString(StandardCharsets.UTF_8).contains("truststore-pw-never-sent"), "a password was sent");
        }
    }

    @Test
    void concurrentRequestsCarryOneReport() {
        EnvironmentReporter rep = new EnvironmentReporter();
        EnvironmentReporter.Due first = rep.due("orders", "connector-j");
        assertNotNull(first);
        assertEquals(null, rep.due("orders", "connector-j"), "a report is in flight");
        rep.done("orders", "connector-j", first.key(), false);
        EnvironmentReporter.Due again = rep.due("orders", "connector-j");
        assertNotNull(again, "the one in flight was not answered: due again");
        rep.done("orders", "connector-j", again.key(), true);
        assertEquals(null, rep.due("orders", "connector-j"));
    }

    @Test
    void reportCanBeTurnedOff() throws Exception {
        try (BrokerClient quiet = BrokerClient.newBuilder("in-process").channel(channel).reporter(new EnvironmentReporter()).reportEnvironment(false).build()) {
            quiet.connectionParams("orders", "connector-j");
        }
        assertFalse(broker.requests.get(0).hasClientEnvironment());

        // The same as a HikariCP property (dataSource.reportEnvironment=false).
        ConnbrokerDataSource ds = new ConnbrokerDataSource();
        ds.setBrokerAddress("127.0.0.1:1");
        assertTrue(ds.isReportEnvironment());
        ds.setReportEnvironment(false);
        try (BrokerClient c = ds.client()) {
            assertFalse(c.reportsEnvironment());
            assertThrows(IllegalStateException.class, () -> ds.setReportEnvironment(true));
        }
    }

    static void restore(String key, String value) {
        if (value == null) {
            System.clearProperty(key);
        } else {
            System.setProperty(key, value);
        }
    }
}
