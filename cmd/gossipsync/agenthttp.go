package main

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"
)

// statusSource is what the HTTP API serves: an agent, or a fake in
// tests.
type statusSource interface {
	// status reads the node's state; ctx bounds what it asks the
	// voters.
	status(ctx context.Context) Status
	// health reports whether the node runs and has joined, and why not.
	health() (ok bool, reason string)
}

var _ statusSource = (*agent)(nil)

// uiPage is the /ui page: self-contained, it fetches /v1/status every
// 2 s and renders it.
//
//go:embed ui.html
var uiPage []byte

// newHandler returns the agent's HTTP API (see agentUsage). metrics
// serves /metrics; nil answers 404 "metrics not built in".
func newHandler(src statusSource, metrics http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		ok, reason := src.health()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		w.Write([]byte(reason + "\n"))
	})
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		st := src.status(r.Context())
		st.normalize()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(st)
	})
	mux.HandleFunc("GET /ui", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:")
		w.Write(uiPage)
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ui", http.StatusFound)
	})
	if metrics == nil {
		metrics = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "metrics not built in", http.StatusNotFound)
		})
	}
	mux.Handle("GET /metrics", metrics)
	return mux
}

// httpServer serves the API on a listener until close.
type httpServer struct {
	srv  *http.Server
	wg   sync.WaitGroup // Serve
	errs chan error     // Serve's result
}

// serveHTTP serves the API of src on ln (see newHandler).
func serveHTTP(ln net.Listener, src statusSource, metrics http.Handler) *httpServer {
	s := &httpServer{
		srv: &http.Server{
			Handler:           newHandler(src, metrics),
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       10 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       time.Minute,
			MaxHeaderBytes:    64 << 10,
		},
		errs: make(chan error, 1),
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.errs <- s.srv.Serve(ln)
	}()
	return s
}

// shutdownGrace is how long close lets requests in flight finish.
const shutdownGrace = 5 * time.Second

// close stops the server: it lets requests in flight finish for up to
// shutdownGrace, closes the rest, and waits for Serve to return.
func (s *httpServer) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if err != nil {
		err = s.srv.Close()
	}
	s.wg.Wait()
	if serr := <-s.errs; !errors.Is(serr, http.ErrServerClosed) {
		return serr
	}
	return err
}
