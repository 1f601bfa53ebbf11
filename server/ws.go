package server

import (
	"net/http"

	"github.com/parley-im/parley/transport/ws"
)

// serveWS carries the same protocol over a WebSocket. The handler goroutine
// becomes the session goroutine: the WebSocket lives as long as it runs.
func (n *Node) serveWS(w http.ResponseWriter, r *http.Request) {
	if n.stopCtx.Err() != nil {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	nc, err := ws.Accept(w, r)
	if err != nil {
		n.log.Debug("websocket accept failed", "remote", r.RemoteAddr, "err", err)
		return
	}
	n.conns.Add(1)
	n.serveConn(nc)
}
