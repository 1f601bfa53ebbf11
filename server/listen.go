package server

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// acceptService accepts Noise-over-TCP connections. The listener belongs to
// the node (bound in New, closed by Run), so a restarted service resumes on
// the same socket.
type acceptService struct{ n *Node }

func (a *acceptService) String() string { return "tcp accept" }

func (a *acceptService) Serve(ctx context.Context) error {
	ln := a.n.tcp.(*net.TCPListener)
	stop := context.AfterFunc(ctx, func() { _ = ln.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				_ = ln.SetDeadline(time.Time{})
				return ctx.Err()
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			// Out of file descriptors and the like: wait, do not spin.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			a.n.log.Warn("accept failed", "err", err, "retry_in", backoff)
			select {
			case <-time.After(backoff):
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		backoff = 0
		a.n.conns.Add(1)
		go a.n.serveConn(nc)
	}
}

// httpService serves one HTTP listener. http.Server.Shutdown would close
// the listener; keepOpen stops that so a restarted service can reuse it.
type httpService struct {
	name    string
	ln      net.Listener
	handler http.Handler
}

func (h *httpService) String() string { return h.name + " http" }

func (h *httpService) Serve(ctx context.Context) error {
	srv := &http.Server{Handler: h.handler, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(&keepOpen{TCPListener: h.ln.(*net.TCPListener)}) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		<-errc
		return ctx.Err()
	}
}

// keepOpen hands http.Server a view of the listener whose Close only
// wakes Accept (through a deadline) instead of closing the socket.
type keepOpen struct {
	*net.TCPListener
	closed atomic.Bool
}

func (k *keepOpen) Accept() (net.Conn, error) {
	c, err := k.TCPListener.Accept()
	if err != nil && k.closed.Load() {
		_ = k.TCPListener.SetDeadline(time.Time{})
		return nil, net.ErrClosed
	}
	return c, err
}

func (k *keepOpen) Close() error {
	k.closed.Store(true)
	return k.TCPListener.SetDeadline(time.Unix(1, 0))
}

// httpHandler is the public HTTP mux.
func (n *Node) httpHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-n.stopCtx.Done():
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
		case <-n.ready:
			if err := n.storeReady(r.Context()); err != nil { // httpops.go
				http.Error(w, "store unavailable", http.StatusServiceUnavailable)
				return
			}
			w.Write([]byte("ready\n"))
		default:
			http.Error(w, "starting", http.StatusServiceUnavailable)
		}
	})
	mux.HandleFunc("GET /ws", n.serveWS)
	mux.Handle("/media/v1/", n.ops.countMedia(n.media.Handler())) // httpops.go
	mux.Handle("GET /metrics", n.ops.m.Handler())
	return mux
}
