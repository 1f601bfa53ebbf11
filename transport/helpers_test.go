package transport

import (
	"context"
	"crypto/rand"
	"net"
	"testing"
	"time"
)

func newKey(t testing.TB) StaticKey {
	t.Helper()
	k, err := GenerateStaticKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// tcpPair returns two ends of a real loopback TCP connection.
func tcpPair(t testing.TB) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := ln.Accept()
		ch <- res{c, err}
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	t.Cleanup(func() { client.Close(); r.c.Close() })
	return client, r.c
}

type hsResult struct {
	c   *Conn
	err error
}

// handshake runs Server on sc in a goroutine and Client on cc.
func handshake(t testing.TB, cc, sc net.Conn, ccfg ClientConfig, scfg ServerConfig) (client, server *Conn, cerr, serr error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ch := make(chan hsResult, 1)
	go func() {
		c, err := Server(ctx, sc, scfg)
		ch <- hsResult{c, err}
	}()
	client, cerr = Client(ctx, cc, ccfg)
	r := <-ch
	if client != nil {
		t.Cleanup(func() { client.Close() })
	}
	if r.c != nil {
		t.Cleanup(func() { r.c.Close() })
	}
	return client, r.c, cerr, r.err
}

// connPair returns an established pair over TCP using XX.
func connPair(t testing.TB) (client, server *Conn) {
	t.Helper()
	cc, sc := tcpPair(t)
	c, s, cerr, serr := handshake(t, cc, sc, ClientConfig{Key: newKey(t)}, ServerConfig{Key: newKey(t)})
	if cerr != nil || serr != nil {
		t.Fatalf("handshake: client %v, server %v", cerr, serr)
	}
	return c, s
}
