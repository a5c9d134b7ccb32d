package io.github.connbroker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.Timestamp;
import connbroker.v1.Broker.ConnectionParams;
import connbroker.v1.Broker.Credential;
import connbroker.v1.Broker.GetConnectionParamsRequest;
import connbroker.v1.Broker.GetConnectionParamsResponse;
import connbroker.v1.Broker.ReportLoginFailureRequest;
import connbroker.v1.Broker.ReportLoginFailureResponse;
import connbroker.v1.BrokerServiceGrpc;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.StreamObserver;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The client's handling of the broker's answers, against a gRPC server in
 * process (the seam; the real broker is in clients/java/java_test.go).
 */
class BrokerClientTest {
    /** A broker whose next answer the test sets: params, or a status. */
    static class Fake extends BrokerServiceGrpc.BrokerServiceImplBase {
        final AtomicReference<Status> fail = new AtomicReference<>();
        final AtomicInteger calls = new AtomicInteger();
        final List<ReportLoginFailureRequest> reports = new CopyOnWriteArrayList<>();
        volatile Instant expiresAt;

        @Override
        public void getConnectionParams(GetConnectionParamsRequest req, StreamObserver<GetConnectionParamsResponse> out) {
            calls.incrementAndGet();
            Status s = fail.get();
            if (s != null) {
                out.onError(s.asRuntimeException());
                return;
            }
            out.onNext(GetConnectionParamsResponse.newBuilder().setParams(ConnectionParams.newBuilder()
                    .setEndpoint(req.getEndpoint()).setHost("127.0.0.1").setPort(3306).setUser("app")
                    .setCredential(Credential.newBuilder().setSecret("secret-" + calls.get())
                            .setExpiresAt(Timestamp.newBuilder().setSeconds(expiresAt.getEpochSecond()))))
                    .build());
            out.onCompleted();
        }

        @Override
        public void reportLoginFailure(ReportLoginFailureRequest req, StreamObserver<ReportLoginFailureResponse> out) {
            reports.add(req);
            out.onNext(ReportLoginFailureResponse.newBuilder().setReread(true).build());
            out.onCompleted();
        }
    }

    /** A clock the test moves. */
    static final class MovingClock extends Clock {
        volatile Instant now = Instant.parse("2026-01-01T00:00:00Z");

        @Override
        public Instant instant() {
            return now;
        }

        @Override
        public java.time.ZoneId getZone() {
            return ZoneOffset.UTC;
        }

        @Override
        public Clock withZone(java.time.ZoneId zone) {
            return this;
        }
    }

    Fake fake;
    Server server;
    ManagedChannel channel;
    MovingClock clock;
    BrokerClient client;

    @BeforeEach
    void start() throws Exception {
        fake = new Fake();
        clock = new MovingClock();
        fake.expiresAt = clock.now.plus(Duration.ofMinutes(15));
        String name = InProcessServerBuilder.generateName();
        server = InProcessServerBuilder.forName(name).directExecutor().addService(fake).build().start();
        channel = InProcessChannelBuilder.forName(name).directExecutor().build();
        client = BrokerClient.newBuilder("in-process:" + name).channel(channel).clock(clock).timeout(Duration.ofSeconds(2)).build();
    }

    @AfterEach
    void stop() {
        client.close();
        server.shutdownNow();
    }

    @Test
    void servesKeptParamsWhileUnavailableAndCountsThem() throws Exception {
        ConnectionParams fresh = client.connectionParams("orders", "connector-j");
        fake.fail.set(Status.UNAVAILABLE.withDescription("broker restarting"));
        for (int i = 0; i < 3; i++) {
            assertSame(fresh, client.connectionParams("orders", "connector-j"));
        }
        ResilienceStats s = client.resilienceStats();
        assertEquals(3, s.staleServes());
        assertEquals(java.util.Map.of("orders/connector-j", 3L), s.staleServesByKey());
        assertEquals(1, s.outages());
        assertTrue(s.currentOutageSince().isPresent());

        fake.fail.set(null);
        ConnectionParams after = client.connectionParams("orders", "connector-j");
        assertEquals("secret-5", after.getCredential().getSecret());
        assertTrue(client.resilienceStats().currentOutageSince().isEmpty());
    }

    @Test
    void refusesKeptParamsPastExpiryMinusMargin() throws Exception {
        client.connectionParams("orders", "connector-j");
        fake.fail.set(Status.UNAVAILABLE);
        clock.now = fake.expiresAt.minus(Duration.ofSeconds(59)); // inside the 60 s margin
        BrokerUnavailableException e = assertThrows(BrokerUnavailableException.class, () -> client.connectionParams("orders", "connector-j"));
        assertTrue(e.getMessage().contains("expired 1.0s ago"), e.getMessage());
        assertTrue(e.getMessage().contains("in-process:"), e.getMessage());
        assertEquals(Duration.ofSeconds(1), e.expiredAgo().orElseThrow());
        assertEquals(1, client.resilienceStats().expiredRefusals());
    }

    @Test
    void neverServesKeptParamsAfterNotFoundOrPermissionDenied() throws Exception {
        for (Status refusal : List.of(Status.NOT_FOUND, Status.PERMISSION_DENIED)) {
            client.connectionParams("orders", "connector-j");
            fake.fail.set(refusal.withDescription("no"));
            BrokerException e = assertThrows(BrokerException.class, () -> client.connectionParams("orders", "connector-j"));
            assertEquals(refusal.getCode(), e.code());
            fake.fail.set(Status.UNAVAILABLE);
            BrokerUnavailableException u = assertThrows(BrokerUnavailableException.class, () -> client.connectionParams("orders", "connector-j"));
            assertTrue(u.expiredAgo().isEmpty(), "no params kept after " + refusal.getCode());
            fake.fail.set(null);
        }
        assertEquals(0, client.resilienceStats().staleServes());
    }

    @Test
    void keptParamsArePerEndpointAndDriver() throws Exception {
        client.connectionParams("orders", "connector-j");
        fake.fail.set(Status.UNAVAILABLE);
        assertThrows(BrokerUnavailableException.class, () -> client.connectionParams("orders", "pymysql"));
        assertThrows(BrokerUnavailableException.class, () -> client.connectionParams("billing", "connector-j"));
    }

    @Test
    void reportLoginFailureDropsKeptParams() throws Exception {
        client.connectionParams("orders", "connector-j");
        assertTrue(client.reportLoginFailure("orders", "connector-j", 1045));
        assertEquals(1, fake.reports.size());
        assertEquals(1045, fake.reports.get(0).getMysqlErrno());
        assertEquals("connector-j", fake.reports.get(0).getDriver());
        fake.fail.set(Status.UNAVAILABLE);
        assertThrows(BrokerUnavailableException.class, () -> client.connectionParams("orders", "connector-j"));
    }

    @Test
    void retriesUnavailableWithinTheDeadline() throws Exception {
        // The fake answers UNAVAILABLE twice, then params: gRPC's retry
        // policy (service config) hides the two failures from the caller.
        AtomicInteger left = new AtomicInteger(2);
        server.shutdownNow();
        String name = InProcessServerBuilder.generateName();
        Fake flaky = new Fake() {
            @Override
            public void getConnectionParams(GetConnectionParamsRequest req, StreamObserver<GetConnectionParamsResponse> out) {
                if (left.getAndDecrement() > 0) {
                    calls.incrementAndGet();
                    out.onError(Status.UNAVAILABLE.asRuntimeException());
                    return;
                }
                super.getConnectionParams(req, out);
            }
        };
        flaky.expiresAt = fake.expiresAt;
        server = InProcessServerBuilder.forName(name).addService(flaky).build().start();
        ManagedChannel ch = InProcessChannelBuilder.forName(name).defaultServiceConfig(BrokerClient.SERVICE_CONFIG).enableRetry().build();
        try (BrokerClient c = BrokerClient.newBuilder("in-process:" + name).channel(ch).timeout(Duration.ofSeconds(5)).build()) {
            assertEquals("secret-3", c.connectionParams("orders", "connector-j").getCredential().getSecret());
            assertEquals(0, c.resilienceStats().outages());
        }
    }

    @Test
    void staticAddressLists() {
        assertEquals(2, StaticAddresses.parse("127.0.0.2:7700, 127.0.0.3:7700").addresses().size());
        assertEquals(1, StaticAddresses.parse("[::1]:7700,").addresses().size());
        for (String bad : List.of(",", "127.0.0.1", "a:b,c:1")) {
            assertThrows(IllegalArgumentException.class, () -> StaticAddresses.parse(bad), bad);
        }
    }
}
