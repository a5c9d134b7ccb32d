package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// checkPprofAddr accepts addr for --pprof: empty (off) or an IP loopback
// address with a port. A host name is refused (it may not resolve to
// loopback), and so is every other address: the profiles show the
// daemon's internals (stacks, the heap's shape, the command line) to
// whoever connects, with no identity checked.
func checkPprofAddr(addr string) error {
	if addr == "" {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("--pprof serves on a loopback IP address only (127.0.0.1:PORT or [::1]:PORT), not %q: profiles are served without any caller identity", addr)
	}
	return nil
}

// pprofRoutes is net/http/pprof's handlers on their own mux (never
// http.DefaultServeMux, which nothing in the daemon serves).
func pprofRoutes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// servePprof starts the opt-in profiling listener (--pprof) on addr, which
// checkPprofAddr must accept, and returns its bound address and a function
// that stops it. Empty addr: off (a nil address and a no-op stop).
func servePprof(addr string, log *slog.Logger) (bound net.Addr, stop func(), err error) {
	if addr == "" {
		return nil, func() {}, nil
	}
	if err := checkPprofAddr(addr); err != nil {
		return nil, nil, err
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("pprof: listen on %s: %w", addr, err)
	}
	// No WriteTimeout: /debug/pprof/profile and /trace stream for the
	// seconds asked for.
	srv := &http.Server{Handler: pprofRoutes(), ReadHeaderTimeout: 5 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	log.Warn("profiling listener on (--pprof): any local process can read the daemon's profiles; turn it off when done", "addr", lis.Addr().String(), "path", "/debug/pprof/")
	go func() {
		if err := srv.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("pprof listener stopped", "err", err)
		}
	}()
	return lis.Addr(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}
