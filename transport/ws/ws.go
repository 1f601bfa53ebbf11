package ws

import (
	"context"
	"fmt"
	"net"
	"net/http"

	"github.com/coder/websocket"
	"github.com/parley-im/parley/transport"
)

// readLimit is the largest WebSocket message accepted. transport.Conn never
// writes more than one maximum-size record per Write (handshake records are
// far smaller), so a peer sending more is misbehaving and the WebSocket is
// closed with StatusMessageTooBig before the message is buffered.
const readLimit = transport.MaxRecordSize

// Accept upgrades an HTTP request to a WebSocket carrier.
//
// Origin policy: a browser must run on the same host as the node (the
// web client is served by the node itself), so no OriginPatterns are set:
// coder/websocket always authorises the request's own Host, and requests
// without an Origin header (non-browser clients) are not cross-origin at
// all. Cross-origin pages are refused with 403 to stop other sites from
// opening connections with a visitor's browser. Operators who serve the web
// client from another host use AcceptWithOrigins.
func Accept(w http.ResponseWriter, r *http.Request) (net.Conn, error) {
	return AcceptWithOrigins(w, r, nil)
}

// AcceptWithOrigins is Accept with extra authorised origin host patterns
// (path.Match syntax, e.g. "app.example.com"). Never pass "*".
func AcceptWithOrigins(w http.ResponseWriter, r *http.Request, originPatterns []string) (net.Conn, error) {
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{OriginPatterns: originPatterns})
	if err != nil {
		return nil, fmt.Errorf("ws: accept: %w", err)
	}
	return netConn(c), nil
}

// Dial opens a WebSocket carrier to url ("ws://host:port/ws" or wss://).
// ctx bounds the dial only; the connection outlives it.
func Dial(ctx context.Context, url string) (net.Conn, error) {
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		return nil, fmt.Errorf("ws: dial %s: %w", url, err)
	}
	return netConn(c), nil
}

func netConn(c *websocket.Conn) net.Conn {
	// The request context ends when the handler returns, and a dial context
	// when dialling is done; neither may bound the connection's life.
	nc := websocket.NetConn(context.Background(), c, websocket.MessageBinary)
	// NetConn disables the read limit; set it after.
	c.SetReadLimit(readLimit)
	return nc
}
