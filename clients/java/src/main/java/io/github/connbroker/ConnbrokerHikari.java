package io.github.connbroker;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;

/**
 * The HikariCP hook: a {@link HikariConfig} whose DataSource is a
 * {@link ConnbrokerDataSource}, so every physical connection the pool opens
 * gets fresh params from the broker. Tune the returned config (pool size,
 * maxLifetime...) before making the pool.
 *
 * <pre>{@code
 * BrokerClient broker = BrokerClient.newBuilder("127.0.0.1:7700").build();
 * HikariConfig cfg = ConnbrokerHikari.config(new ConnbrokerDataSource(broker, "orders"));
 * cfg.setMaximumPoolSize(10);
 * HikariDataSource pool = new HikariDataSource(cfg);
 * }</pre>
 *
 * <p>Without code, HikariCP's own properties do the same:
 * {@code dataSourceClassName=io.github.connbroker.ConnbrokerDataSource},
 * {@code dataSource.brokerAddress=127.0.0.1:7700},
 * {@code dataSource.endpoint=orders}.
 */
public final class ConnbrokerHikari {
    private ConnbrokerHikari() {}

    /** Returns a HikariConfig on {@code dataSource}, with the pool named "connbroker-ENDPOINT". */
    public static HikariConfig config(ConnbrokerDataSource dataSource) {
        HikariConfig cfg = new HikariConfig();
        cfg.setDataSource(dataSource);
        cfg.setPoolName("connbroker-" + dataSource.getEndpoint());
        return cfg;
    }

    /** Returns a started pool with HikariCP's defaults on {@code dataSource}. */
    public static HikariDataSource pool(ConnbrokerDataSource dataSource) {
        return new HikariDataSource(config(dataSource));
    }
}
