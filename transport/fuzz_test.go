package transport

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parley-im/parley/protocol"
)

// fuzzReadState runs a real XX handshake and returns the server's receive
// state plus valid client frames to seed the corpus with.
func fuzzReadState(f *testing.F) (rxKey [32]byte, seeds [][]byte) {
	// Deterministic keys so the committed corpus keeps decrypting.
	cc, sc := tcpPair(f)
	c, s, cerr, serr := handshake(f, cc, sc,
		ClientConfig{Key: fixedKey(f, 1), Rand: &detRand{seed: 3}},
		ServerConfig{Key: fixedKey(f, 2), Rand: &detRand{seed: 4}})
	if cerr != nil || serr != nil {
		f.Fatal(cerr, serr)
	}
	var wire bytes.Buffer
	sender := &Conn{nc: &streamConn{w: &wire}}
	for _, frames := range [][][]byte{
		{[]byte("hello")},
		{nil, []byte("two"), bytes.Repeat([]byte{7}, 300)},
		{make([]byte, 4096)},
	} {
		wire.Reset()
		sender.tx.key, sender.tx.n = c.tx.key, c.tx.n
		if err := sender.WriteFrames(frames); err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, bytes.Clone(wire.Bytes()))
	}
	one := seeds[0]
	seeds = append(seeds,
		nil,
		[]byte{0xff, 0xff, 0xff},
		[]byte{0, 0, 0},
		one[:len(one)-1],
		append(bytes.Clone(one), one...),
	)
	return s.rx.key, seeds
}

func FuzzReadFrame(f *testing.F) {
	rxKey, seeds := fuzzReadState(f)
	writeCorpus(f, "FuzzReadFrame", seeds)
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c := &Conn{nc: &streamConn{r: bytes.NewReader(data), w: io.Discard}}
		c.rx.key = rxKey
		for i := 0; i <= len(data)/(headerSize+tagSize)+1; i++ {
			p, err := c.ReadFrame()
			if err != nil {
				return
			}
			if len(p) > protocol.MaxFrameSize {
				t.Fatalf("frame of %d bytes passed", len(p))
			}
		}
		t.Fatal("ReadFrame kept returning frames past the end of the input")
	})
}

func FuzzServerHandshake(f *testing.F) {
	nodeKey := fixedKey(f, 0x5e)
	var seeds [][]byte
	for _, name := range []string{"transcript_xx.golden", "transcript_ik.golden"} {
		seeds = append(seeds, clientBytes(f, filepath.Join("testdata", name)))
	}
	seeds = append(seeds,
		[]byte{0, 0, 1, PatternXX},
		[]byte{0, 0, 1, 0x7f},
		[]byte{0, 0, 33, PatternIK},
		append([]byte{0, 0, 33, PatternXX}, make([]byte, 32)...),
		[]byte{0xff, 0xff, 0xff, PatternXX},
	)
	writeCorpus(f, "FuzzServerHandshake", seeds)
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		nc := &streamConn{r: bytes.NewReader(data), w: io.Discard}
		c, err := Server(context.Background(), nc, ServerConfig{Key: nodeKey, Rand: &detRand{seed: 0x5a}})
		if err == nil && c.RemoteKey().IsZero() {
			t.Fatal("handshake succeeded without a device key")
		}
	})
}

// The client half of a golden transcript, replayed against a server with
// the same fixed randomness, completes the handshake: the transcript is a
// true known answer for the server side too.
func TestGoldenReplayServer(t *testing.T) {
	for _, name := range []string{"transcript_xx.golden", "transcript_ik.golden"} {
		data := clientBytes(t, filepath.Join("testdata", name))
		nc := &streamConn{r: bytes.NewReader(data), w: io.Discard}
		c, err := Server(context.Background(), nc, ServerConfig{Key: fixedKey(t, 0x5e), Rand: &detRand{seed: 0x5a}})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !c.RemoteKey().Equal(fixedKey(t, 0xd0).Public()) {
			t.Fatalf("%s: wrong device key", name)
		}
	}
}

// clientBytes extracts what the client wrote during the handshake of a
// golden transcript (frames excluded).
func clientBytes(f testing.TB, path string) []byte {
	data, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	var out []byte
	writes := 0
	for _, line := range strings.Split(string(data), "\n") {
		hexs, ok := strings.CutPrefix(line, "C> ")
		if !ok {
			continue
		}
		b, err := hex.DecodeString(hexs)
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, b...)
		writes++
		if strings.Contains(path, "_ik") || writes == 2 {
			break
		}
	}
	return out
}

// writeCorpus stores seeds as a committed corpus under -update.
func writeCorpus(f *testing.F, name string, seeds [][]byte) {
	if !*update {
		return
	}
	dir := filepath.Join("testdata", "fuzz", name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		f.Fatal(err)
	}
	for i, s := range seeds {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte(body), 0o644); err != nil {
			f.Fatal(err)
		}
	}
}
