package config

import (
	"fmt"
	"net"
)

// Metrics configures the Prometheus metrics listener.
type Metrics struct {
	// Listen is the host:port serving GET /metrics, e.g. "127.0.0.1:9464".
	// Empty turns metrics off. Off loopback it takes the same care as the
	// gRPC listener: it serves HTTPS with the broker's tls.cert and tls.key,
	// or plain HTTP only with insecure: true.
	Listen string `yaml:"listen"`
}

// Enabled reports whether the metrics listener is configured.
func (m Metrics) Enabled() bool { return m.Listen != "" }

// validateMetrics checks the metrics section.
func (c *Config) validateMetrics() []error {
	if !c.Metrics.Enabled() {
		return nil
	}
	host, _, err := net.SplitHostPort(c.Metrics.Listen)
	switch {
	case err != nil:
		return []error{&FieldError{Path: "metrics.listen", Problem: fmt.Sprintf("%q is not host:port", c.Metrics.Listen), Fix: `use e.g. "127.0.0.1:9464"`}}
	case c.Metrics.Listen == c.Listen:
		return []error{&FieldError{Path: "metrics.listen", Problem: "is the same address as listen", Fix: "give metrics its own port, e.g. 9464"}}
	case !isLoopback(host) && !c.TLS.Enabled() && !c.Insecure:
		return []error{&FieldError{Path: "metrics.listen", Problem: fmt.Sprintf("%q is off loopback and the broker has no server TLS", c.Metrics.Listen), Fix: "set tls.cert and tls.key (metrics are then served over HTTPS), or listen on 127.0.0.1, or set insecure: true to accept the risk"}}
	}
	return nil
}
