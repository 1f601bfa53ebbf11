package mediacrypt

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/vectors.json")

type vector struct {
	Name       string `json:"name"`
	Key        string `json:"key"`
	Salt       string `json:"salt"`
	ChunkSize  int    `json:"chunk_size"`
	Plaintext  string `json:"plaintext"`
	Ciphertext string `json:"ciphertext"`
}

func seq(start, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(start + i)
	}
	return b
}

func makeVectors(t *testing.T) []vector {
	t.Helper()
	inputs := []struct {
		name string
		cs   int
		pt   []byte
	}{
		{"empty", 16, nil},
		{"three chunks", 16, []byte("Parley media test vector: 3 chunks")},
		{"exact chunks", 16, seq(0x61, 32)},
	}
	var vs []vector
	for _, in := range inputs {
		key, salt := seq(0, KeySize), seq(0x40, SaltSize)
		var buf bytes.Buffer
		w, err := NewWriter(&buf, key, Options{ChunkSize: in.cs, Rand: bytes.NewReader(salt)})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(in.pt)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		vs = append(vs, vector{in.name, hex.EncodeToString(key), hex.EncodeToString(salt), in.cs,
			hex.EncodeToString(in.pt), hex.EncodeToString(buf.Bytes())})
	}
	return vs
}

// TestVectors pins the format: a change that alters a single ciphertext byte
// breaks every client already deployed.
func TestVectors(t *testing.T) {
	path := filepath.Join("testdata", "vectors.json")
	got := makeVectors(t)
	if *update {
		b, _ := json.MarshalIndent(got, "", "  ")
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var want []vector
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	if len(want) != len(got) {
		t.Fatalf("%d vectors on disk, %d generated", len(want), len(got))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("vector %q changed:\n got %s\nwant %s", want[i].Name, got[i].Ciphertext, want[i].Ciphertext)
		}
		key, _ := hex.DecodeString(want[i].Key)
		ct, _ := hex.DecodeString(want[i].Ciphertext)
		pt, err := decrypt(key, ct)
		if err != nil || hex.EncodeToString(pt) != want[i].Plaintext {
			t.Errorf("vector %q: decrypt = %x, %v", want[i].Name, pt, err)
		}
	}
}

// TestVectorsIndependentDecrypt decrypts the vectors with Node's crypto
// module (OpenSSL's HKDF and AES-GCM), following only the format in
// docs/crypto.md, so the format description and the Go code cannot drift
// apart unnoticed.
func TestVectorsIndependentDecrypt(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not installed")
	}
	out, err := exec.Command(node, filepath.Join("testdata", "decrypt.js"), filepath.Join("testdata", "vectors.json")).CombinedOutput()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != "ok 3" {
		t.Fatalf("node says %q", got)
	}
}
