package io.github.connbroker;

import java.time.Instant;
import java.util.Map;
import java.util.Optional;

/**
 * A snapshot of a {@link BrokerClient}'s serving of kept params while the
 * broker was away, for export to a metrics system.
 *
 * @param staleServes kept params served while the broker was away, in total
 * @param staleServesByKey the same per "endpoint/driver"
 * @param outages outages seen (runs of unanswered calls)
 * @param outageSince when the current outage began; null when there is none
 * @param expiredRefusals calls refused because the kept params had expired
 */
public record ResilienceStats(long staleServes, Map<String, Long> staleServesByKey, long outages, Instant outageSince,
        long expiredRefusals) {

    /** Returns when the current outage began, or empty when the broker answers. */
    public Optional<Instant> currentOutageSince() {
        return Optional.ofNullable(outageSince);
    }
}
