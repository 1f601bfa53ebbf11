// Package ws carries Parley's transport over WebSocket (github.com/coder/websocket)
// so that browsers speak the same protocol as TCP clients.
//
// It owns only the carrier: Accept and Dial return a net.Conn in which every
// Write is one binary WebSocket message and Read returns the messages'
// bytes back to back. The caller hands that net.Conn to transport.Server or
// transport.Client exactly like a TCP connection. The package must not look
// inside the bytes it carries, and it must not know about sessions or HTTP
// routing beyond the one upgrade request it is given.
package ws
