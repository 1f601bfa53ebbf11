package server_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/parley-im/parley/protocol"
	"github.com/parley-im/parley/protocol/pb"
	"github.com/parley-im/parley/server"
	"github.com/parley-im/parley/server/servertest"
)

func TestWelcomeAndRegister(t *testing.T) {
	n := servertest.Start(t, server.Config{})
	key := servertest.NewKey()
	c := servertest.Dial(t, n, key)
	if w := c.Welcome; w.Registered || w.ProtocolVersion != protocol.Version || w.RegistrationMode != "open" {
		t.Fatalf("welcome for a new key = %v", w)
	}
	if err := c.Register("alice", "", 3, 3); err != nil {
		t.Fatal(err)
	}
	// Now authenticated: other requests work on the same connection.
	r := c.MustCall(t, &pb.ClientFrame{Body: &pb.ClientFrame_KeyCount{KeyCount: &pb.KeyCountRequest{}}})
	if kc := r.GetKeyCount(); kc == nil || kc.PreKeys != 3 || kc.KemPreKeys != 3 {
		t.Fatalf("KeyCount = %v, want 3/3", r)
	}
	c.Close()
	// Reconnecting with the same key is recognised.
	c2 := servertest.Dial(t, n, key)
	if w := c2.Welcome; !w.Registered || w.User != "alice" || w.DeviceId != 1 {
		t.Fatalf("welcome after register = %v", w)
	}
}

func TestRegisterErrors(t *testing.T) {
	n := servertest.Start(t, server.Config{})
	servertest.Register(t, n, "taken")
	tests := []struct {
		name   string
		handle string
		keys   *pb.UploadKeys
		want   pb.ErrorCode
	}{
		{"bad handle", "No!", servertest.FakeKeys(1, 1, 1), pb.ErrorCode_INVALID_HANDLE},
		{"taken", "taken", servertest.FakeKeys(1, 1, 1), pb.ErrorCode_HANDLE_TAKEN},
		{"no keys", "bob", nil, pb.ErrorCode_INVALID_ARGUMENT},
		{"short identity", "bob", func() *pb.UploadKeys { k := servertest.FakeKeys(1, 1, 1); k.IdentityKey = k.IdentityKey[:10]; return k }(), pb.ErrorCode_INVALID_ARGUMENT},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := servertest.Dial(t, n, servertest.NewKey())
			r := c.MustCall(t, &pb.ClientFrame{Body: &pb.ClientFrame_Register{Register: &pb.Register{Handle: tt.handle, Keys: tt.keys}}})
			wantError(t, r, tt.want)
			// The connection stays usable.
			if r := c.MustCall(t, ping()); r.GetPong() == nil {
				t.Fatalf("ping after error: %v", r)
			}
		})
	}
	t.Run("already registered", func(t *testing.T) {
		c := servertest.Register(t, n, "carol")
		r := c.MustCall(t, &pb.ClientFrame{Body: &pb.ClientFrame_Register{Register: &pb.Register{Handle: "carol2", Keys: servertest.FakeKeys(1, 1, 1)}}})
		wantError(t, r, pb.ErrorCode_ALREADY_REGISTERED)
	})
}

func TestNodeKeyPersists(t *testing.T) {
	dir := t.TempDir()
	n := servertest.Start(t, server.Config{DataDir: dir})
	k1 := n.ServerKey()
	n.Stop(t)
	for _, f := range []string{"node.key", "admin.token"} {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", f, st.Mode().Perm())
		}
	}
	b, _ := os.ReadFile(filepath.Join(dir, "node.key"))
	if !bytes.HasPrefix(b, []byte("parley-secret:")) {
		t.Errorf("node.key is not in text form: %.20q", b)
	}
	n2 := servertest.Start(t, server.Config{DataDir: dir})
	if !n2.ServerKey().Equal(k1) {
		t.Fatalf("server key changed across restarts")
	}
}

func TestBadConfig(t *testing.T) {
	_, err := server.New(server.Config{DataDir: t.TempDir(), Registration: "maybe"})
	if err == nil {
		t.Fatal("registration \"maybe\" accepted")
	}
}

func TestGracefulShutdownSaysGoodbye(t *testing.T) {
	n := servertest.Start(t, server.Config{})
	a := servertest.Register(t, n, "alice")
	anon := servertest.Dial(t, n, servertest.NewKey())
	stopped := make(chan struct{})
	go func() { n.Stop(t); close(stopped) }()
	wantGoodbye(t, a, pb.ErrorCode_SHUTTING_DOWN)
	wantGoodbye(t, anon, pb.ErrorCode_SHUTTING_DOWN)
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := servertest.DialTCP(ctx, n.TCPAddr().String(), n.ServerKey(), servertest.NewKey()); err == nil {
		t.Fatal("node still accepts after shutdown")
	}
}
