package client_test

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/client/storage/memkv"
	"github.com/parley-im/parley/server"
	"github.com/parley-im/parley/server/servertest"
	"github.com/parley-im/parley/transport"
)

// A node that comes back with another key is refused, with the sentinel
// the CLI turns into an explanation.
func TestChangedServerKeyRefused(t *testing.T) {
	n1 := startNode(t)
	st := memkv.New()
	alice := newDevice(t, n1, st)
	register(t, alice, "alice")
	addr := n1.TCPAddr().String()
	alice.close()
	n1.Stop(t)

	n2 := servertest.Start(t, server.Config{Listen: addr}) // fresh data dir, fresh key
	if n2.ServerKey().Equal(n1.ServerKey()) {
		t.Fatal("test setup: both nodes have the same key")
	}
	again := newDevice(t, n2, st)
	err := again.Connect(ctxT(t))
	if !errors.Is(err, transport.ErrServerKeyChanged) {
		t.Fatalf("connect to a node with another key: %v, want ErrServerKeyChanged", err)
	}
}

// With Reconnect the SDK comes back by itself after the node restarts and
// receives what was sent meanwhile.
func TestReconnectAfterNodeRestart(t *testing.T) {
	dir := t.TempDir()
	n1 := servertest.Start(t, server.Config{DataDir: dir})
	addr := n1.TCPAddr().String()
	ctx := ctxT(t)
	alice := memDevice(t, n1)
	register(t, alice, "alice")
	bobSt := memkv.New()
	bob := newDevice(t, n1, bobSt)
	register(t, bob, "bob")
	bob.close()
	c, err := client.New(client.Config{Storage: bobSt, Dialer: tcp, ServerAddr: addr, Reconnect: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	alice.close()
	n1.Stop(t)

	n2 := servertest.Start(t, server.Config{DataDir: dir, Listen: addr})
	sender := newDevice(t, n2, memkv.New())
	register(t, sender, "carol")
	if _, err := sender.Send(ctx, "bob", "while you were away"); err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case ev := <-c.Events():
			if m, ok := ev.(client.Message); ok {
				if m.Text != "while you were away" || m.From != "carol" {
					t.Fatalf("got %+v", m)
				}
				return
			}
		case <-ctx.Done():
			t.Fatal("bob did not reconnect and receive within the timeout")
		}
	}
}

// The node's disk never holds a message's plaintext: only ciphertext is
// queued for the offline recipient.
func TestNodeStoresNoPlaintext(t *testing.T) {
	dir := t.TempDir()
	n := servertest.Start(t, server.Config{DataDir: dir})
	ctx := ctxT(t)
	alice, bob := memDevice(t, n), memDevice(t, n)
	register(t, alice, "alice")
	register(t, bob, "bob")
	bob.close() // offline: the message stays queued on the node
	marker := "PLAINTEXT-MARKER-7f3a9c"
	if _, err := alice.Send(ctx, "bob", marker); err != nil {
		t.Fatal(err)
	}
	n.Stop(t)
	found := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte(marker)) {
			t.Errorf("plaintext found in node file %s", p)
		}
		found++
		return nil
	})
	if err != nil || found == 0 {
		t.Fatalf("walked %d files: %v", found, err)
	}
}
