package io.github.connbroker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
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
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Compact requests (known_ca_sha256, omit_param_options) and the inventory
 * report, against an in-process server that answers as the broker does
 * (server/params.go): the PEM left out when the digest matches, the
 * options repeating ConnectionParams fields left out when asked. The real
 * broker is in clients/java/java_test.go.
 */
class CompactAndReportTest {
    static final String PEM_A = "-----BEGIN CERTIFICATE-----\nQUFB\n-----END CERTIFICATE-----\n";
    static final String PEM_B = "-----BEGIN CERTIFICATE-----\nQkJC\n-----END CERTIFICATE-----\n";

    /** A broker with one CA bundle (or none) that answers compact requests as the real one does. */
    static final class Broker extends BrokerServiceGrpc.BrokerServiceImplBase {
        final List<GetConnectionParamsRequest> requests = new CopyOnWriteArrayList<>();
        final List<Integer> responseBytes = new CopyOnWriteArrayList<>();
        final AtomicReference<String> pem = new AtomicReference<>(PEM_A);
        final AtomicReference<Status> fail = new AtomicReference<>();
        /** When set, answers with this instead (a broken broker). */
        final AtomicReference<ConnectionParams> override = new AtomicReference<>();

        @Override
        public void getConnectionParams(GetConnectionParamsRequest req, StreamObserver<GetConnectionParamsResponse> out) {
            requests.add(req);
            if (fail.get() != null) {
                out.onError(fail.get().asRuntimeException());
                return;
            }
            ConnectionParams p = override.get() != null ? override.get() : render(req, pem.get());
            GetConnectionParamsResponse resp = GetConnectionParamsResponse.newBuilder().setParams(p).build();
            responseBytes.add(resp.getSerializedSize());
            out.onNext(resp);
            out.onCompleted();
        }

        /** The params for req: complete unless req asks for compact ones. */
        static ConnectionParams render(GetConnectionParamsRequest req, String pem) {
            ConnectionParams.Builder p = ConnectionParams.newBuilder().setEndpoint(req.getEndpoint()).setHost("db.example").setPort(3306)
                    .setUser("app").setDatabase("orders").setCredential(Credential.newBuilder().setSecret("s3cret"));
            TLSSettings.Builder tls = p.getTlsBuilder().setMode(TLSMode.TLS_MODE_VERIFY_IDENTITY).setServerName("db.example");
            if (pem != null) {
                ByteString sum = CaStore.sha256(pem);
                tls.setCaSha256(sum);
                if (!sum.equals(req.getKnownCaSha256())) {
                    tls.setCaPem(pem);
                }
            }
            DriverHints.Builder h = p.getHintsBuilder().setDriver(ConnectorJ.DRIVER).setSecretOption("password")
                    .setDsn("jdbc:mysql://db.example:3306/orders?sslMode=VERIFY_IDENTITY");
            h.addOptions(HintOption.newBuilder().setName("sslMode").setStringValue("VERIFY_IDENTITY"));
            if (req.getOmitParamOptions()) {
                h.setParamOptions(ParamOptionNames.newBuilder().setUser("user"));
            } else {
                h.addOptions(HintOption.newBuilder().setName("user").setStringValue("app"));
            }
            return p.build();
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
        return Broker.render(GetConnectionParamsRequest.newBuilder().setEndpoint(endpoint).build(), pem);
    }

    @Test
    void repeatRequestsNameTheCAHeldAndGetSmallResponses() throws Exception {
        ConnectionParams first = client.connectionParams("orders", "connector-j");
        ConnectionParams second = client.connectionParams("orders", "connector-j");
        assertEquals(whole("orders", PEM_A), first);
        assertEquals(whole("orders", PEM_A), second, "the PEM and the user option are put back");

        GetConnectionParamsRequest r0 = broker.requests.get(0), r1 = broker.requests.get(1);
        assertTrue(r0.getOmitParamOptions() && r1.getOmitParamOptions());
        assertTrue(r0.getKnownCaSha256().isEmpty(), "nothing held yet");
        assertEquals(CaStore.sha256(PEM_A), r1.getKnownCaSha256());
        int full = whole("orders", PEM_A).getSerializedSize();
        int repeat = broker.responseBytes.get(1);
        assertTrue(repeat < full - PEM_A.length(), "repeat response " + repeat + " bytes, complete params " + full);

        // The endpoint's CA rotates: the old digest no longer matches, the new PEM comes and is held.
        broker.pem.set(PEM_B);
        assertEquals(whole("orders", PEM_B), client.connectionParams("orders", "connector-j"));
        assertEquals(CaStore.sha256(PEM_A), broker.requests.get(2).getKnownCaSha256());
        assertEquals(whole("orders", PEM_B), client.connectionParams("orders", "connector-j"));
        assertEquals(CaStore.sha256(PEM_B), broker.requests.get(3).getKnownCaSha256());

        // Another endpoint has its own bundle: nothing held for it yet.
        client.connectionParams("billing", "connector-j");
        assertTrue(broker.requests.get(4).getKnownCaSha256().isEmpty());

        // The CA is dropped (system trust store): no digest is sent after that.
        broker.pem.set(null);
        assertEquals(whole("orders", null), client.connectionParams("orders", "connector-j"));
        client.connectionParams("orders", "connector-j");
        assertTrue(broker.requests.get(6).getKnownCaSha256().isEmpty());
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
