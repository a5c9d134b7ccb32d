package main

import (
	"fmt"
	"io"
	"log/slog"

	"github.com/connbroker/connbroker/broker/config"
)

// printSecurityWarnings writes, for --check-config, every endpoint where a
// secret could leave for an unverified server, with the reason.
func printSecurityWarnings(w io.Writer, cfg *config.Config) {
	for _, sw := range cfg.SecurityWarnings() {
		fmt.Fprintf(w, "warning: %s\n", sw)
	}
}

// logSecurityWarnings logs the same warnings at start.
func logSecurityWarnings(log *slog.Logger, cfg *config.Config) {
	for _, sw := range cfg.SecurityWarnings() {
		log.Warn("a secret could leave for an unverified server", "field", sw.Path, "reason", sw.Reason)
	}
}
