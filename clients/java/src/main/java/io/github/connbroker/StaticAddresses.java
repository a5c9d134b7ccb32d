package io.github.connbroker;

import io.grpc.EquivalentAddressGroup;
import io.grpc.NameResolver;
import io.grpc.Status;
import java.net.InetSocketAddress;
import java.net.URI;
import java.util.ArrayList;
import java.util.List;

/**
 * A name resolver for a comma-separated list of broker addresses
 * ("10.0.0.1:7700,10.0.0.2:7700"; host names are resolved once, when the
 * channel starts): every address is its own subchannel, so round_robin
 * spreads calls over them and skips one that is down. grpc-java has no
 * built-in resolver for a static list (grpc-go's "manual", Python's
 * "ipv4:a,b").
 */
final class StaticAddresses extends NameResolver.Factory {
    static final String SCHEME = "connbroker-static";

    private final List<InetSocketAddress> addresses;
    private final String authority;

    private StaticAddresses(List<InetSocketAddress> addresses, String authority) {
        this.addresses = addresses;
        this.authority = authority;
    }

    /**
     * Parses "host:port,host:port" (IPv6 as "[::1]:7700").
     *
     * @throws IllegalArgumentException an entry is not host:port, or the list is empty
     */
    static StaticAddresses parse(String list) {
        List<InetSocketAddress> out = new ArrayList<>();
        List<String> problems = new ArrayList<>();
        String first = null;
        for (String raw : list.split(",")) {
            String a = raw.strip();
            if (a.isEmpty()) {
                continue;
            }
            int colon = a.lastIndexOf(':');
            String host = colon > 0 ? a.substring(0, colon) : "";
            String port = colon > 0 ? a.substring(colon + 1) : "";
            if (host.startsWith("[") && host.endsWith("]")) {
                host = host.substring(1, host.length() - 1);
            }
            if (host.isEmpty() || !port.matches("[0-9]{1,5}")) {
                problems.add("broker address \"" + a + "\" is not host:port");
                continue;
            }
            if (first == null) {
                first = a;
            }
            out.add(InetSocketAddress.createUnresolved(host, Integer.parseInt(port)));
        }
        if (!problems.isEmpty()) {
            throw new IllegalArgumentException(String.join("; ", problems));
        }
        if (out.isEmpty()) {
            throw new IllegalArgumentException("broker address list \"" + list + "\" is empty");
        }
        return new StaticAddresses(List.copyOf(out), first);
    }

    /** Returns the addresses, unresolved. */
    List<InetSocketAddress> addresses() {
        return addresses;
    }

    @Override
    public NameResolver newNameResolver(URI targetUri, NameResolver.Args args) {
        if (!SCHEME.equals(targetUri.getScheme())) {
            return null;
        }
        return new NameResolver() {
            @Override
            public String getServiceAuthority() {
                return authority;
            }

            @Override
            public void start(Listener2 listener) {
                List<EquivalentAddressGroup> groups = new ArrayList<>();
                for (InetSocketAddress a : addresses) {
                    InetSocketAddress resolved = new InetSocketAddress(a.getHostString(), a.getPort());
                    if (!resolved.isUnresolved()) {
                        groups.add(new EquivalentAddressGroup(resolved));
                    }
                }
                if (groups.isEmpty()) {
                    listener.onError(Status.UNAVAILABLE.withDescription("no broker address of " + addresses + " resolves"));
                    return;
                }
                listener.onResult(ResolutionResult.newBuilder().setAddressesOrError(io.grpc.StatusOr.fromValue(groups)).build());
            }

            @Override
            public void shutdown() {}
        };
    }

    @Override
    public String getDefaultScheme() {
        return SCHEME;
    }
}
