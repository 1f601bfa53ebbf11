package transport

import (
	"bytes"
	"context"
	"encoding/hex"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

// detRand is a fixed byte stream: with it as Rand and fixed static keys the
// whole transcript (ephemeral keys included) is reproducible.
type detRand struct {
	seed byte
	i    int
}

func (r *detRand) Read(p []byte) (int, error) {
	for k := range p {
		p[k] = r.seed ^ byte(r.i*29+7)
		r.i++
	}
	return len(p), nil
}

func fixedKey(t testing.TB, seed byte) StaticKey {
	k, err := GenerateStaticKey(&detRand{seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// recordingConn logs every Write in order, tagged with the writer.
type recordingConn struct {
	net.Conn
	tag string
	mu  *sync.Mutex
	log *[]string
}

func (r recordingConn) Write(p []byte) (int, error) {
	r.mu.Lock()
	*r.log = append(*r.log, r.tag+" "+hex.EncodeToString(p))
	r.mu.Unlock()
	return r.Conn.Write(p)
}

// transcript runs a deterministic handshake plus one frame each way and
// returns every byte written, one line per Write.
func transcript(t *testing.T, pinned bool) string {
	devKey, nodeKey := fixedKey(t, 0xd0), fixedKey(t, 0x5e)
	var (
		mu  sync.Mutex
		log []string
	)
	a, b := net.Pipe()
	cc := recordingConn{a, "C>", &mu, &log}
	sc := recordingConn{b, "S>", &mu, &log}
	ccfg := ClientConfig{Key: devKey, Rand: &detRand{seed: 0xce}}
	if pinned {
		pub := nodeKey.Public()
		ccfg.ServerKey = &pub
	}
	ch := make(chan hsResult, 1)
	go func() {
		s, err := Server(context.Background(), sc, ServerConfig{Key: nodeKey, Rand: &detRand{seed: 0x5a}})
		ch <- hsResult{s, err}
	}()
	c, err := Client(context.Background(), cc, ccfg)
	if err != nil {
		t.Fatal(err)
	}
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	s := r.c
	defer c.Close()
	defer s.Close()
	go func() { _ = c.WriteFrame([]byte("hello from the device")) }()
	if f, err := s.ReadFrame(); err != nil || string(f) != "hello from the device" {
		t.Fatalf("server read %q, %v", f, err)
	}
	go func() { _ = s.WriteFrames([][]byte{[]byte("hello from the node"), nil}) }()
	for _, want := range []string{"hello from the node", ""} {
		if f, err := c.ReadFrame(); err != nil || string(f) != want {
			t.Fatalf("client read %q, %v", f, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	header := fmt.Sprintf("# client static %s\n# server static %s\n",
		devKey.Public(), nodeKey.Public())
	return header + strings.Join(log, "\n") + "\n"
}

// TestGoldenTranscript catches any change of the bytes on the wire. After a
// deliberate protocol change run `go test ./transport -run Golden -update`
// and describe the change in docs/protocol.md.
func TestGoldenTranscript(t *testing.T) {
	for _, tt := range []struct {
		file   string
		pinned bool
	}{
		{"transcript_xx.golden", false},
		{"transcript_ik.golden", true},
	} {
		t.Run(tt.file, func(t *testing.T) {
			got := transcript(t, tt.pinned)
			if again := transcript(t, tt.pinned); again != got {
				t.Fatal("transcript is not deterministic")
			}
			path := filepath.Join("testdata", tt.file)
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(want, []byte(got)) {
				t.Errorf("wire bytes changed.\ngot:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}
