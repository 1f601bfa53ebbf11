package endtoend_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf16"
)

// TestNoPlaintextOnWireOrDisk is issue 3 point 2: the node and the network
// see only ciphertext. A random marker travels in messages both ways
// through a recording proxy; afterwards it is in none of the recorded
// bytes and in no file of the node's data directory, in any of the
// encodings a careless implementation might use, while both devices did
// show it to their users.
func TestNoPlaintextOnWireOrDisk(t *testing.T) {
	t.Parallel()
	marker := "PLAINTEXT-MARKER-" + rand.Text()
	needles := needlesFor(marker)
	checkNeedlesDetectable(t, marker, needles)

	data := filepath.Join(t.TempDir(), "data")
	n := startNode(t, data)
	proxy := newRecordingProxy(t, n.tcp)
	alice, bob := newDevice(t, proxy.addr()), newDevice(t, proxy.addr())
	alice.register(t, "alice")
	bob.register(t, "bob")

	toBob := []string{"hello " + marker, marker, "ünïcödé ✓ " + marker + " 🙂"}
	for _, text := range toBob {
		alice.sendOK(t, "bob", text)
	}
	r := bob.must(t, "recv", "--json")
	if got := receivedTexts(t, r); !slices.Equal(got, toBob) {
		t.Fatalf("bob did not receive the marked messages: got %q, want %q\n%s", got, toBob, r)
	}
	bob.sendOK(t, "alice", "re: "+marker)
	r = alice.must(t, "recv", "--json")
	if got := receivedTexts(t, r); !slices.Equal(got, []string{"re: " + marker}) {
		t.Fatalf("alice did not receive bob's reply: got %q\n%s", got, r)
	}

	// The wire: every byte of every connection, both directions.
	streams := proxy.recorded()
	var toNode, toDevice int
	for i, s := range streams {
		if i%2 == 0 {
			toNode += len(s)
		} else {
			toDevice += len(s)
		}
		if form, ok := findNeedle(s, needles); ok {
			t.Errorf("the marker (%s) crossed the network in plaintext: connection %d, direction %s", form, i/2, [2]string{"device→node", "node→device"}[i%2])
		}
	}
	if len(streams) < 2*6 || toNode == 0 || toDevice == 0 {
		t.Fatalf("the proxy saw too little to mean anything: %d streams, %d bytes to the node, %d to devices", len(streams), toNode, toDevice)
	}

	// The disk: stop the node (whatever it writes on shutdown counts too),
	// then read every file raw — Pebble's WAL, sstables, manifest, keys.
	n.stop()
	var files, size int
	err := filepath.WalkDir(data, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		size += len(b)
		if form, ok := findNeedle(b, needles); ok {
			t.Errorf("the marker (%s) is stored in plaintext in %s", form, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files == 0 || size == 0 {
		t.Fatalf("the node's data directory %s is empty; nothing was checked", data)
	}
	if form, ok := findNeedle([]byte(n.logText()), needles); ok {
		t.Errorf("the marker (%s) appears in the node's log", form)
	}
	t.Logf("checked %d streams (%d B to the node, %d B to devices) and %d files (%d B)", len(streams), toNode, toDevice, files, size)
}

// needlesFor returns the forms in which marker could leak: raw UTF-8,
// UTF-16 both ways, hex, and base64 (standard and URL alphabets) at each of
// the three byte alignments — for base64 only the characters that depend
// on the marker alone.
func needlesFor(marker string) map[string][]byte {
	m := map[string][]byte{
		"utf-8": []byte(marker),
		"hex":   []byte(hex.EncodeToString([]byte(marker))),
	}
	u := utf16.Encode([]rune(marker))
	le, be := make([]byte, 2*len(u)), make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(le[2*i:], c)
		binary.BigEndian.PutUint16(be[2*i:], c)
	}
	m["utf-16le"], m["utf-16be"] = le, be
	for name, enc := range map[string]*base64.Encoding{"base64": base64.StdEncoding, "base64url": base64.URLEncoding} {
		for off := range 3 {
			s := enc.EncodeToString(append(make([]byte, off), marker...))
			m[name+"@"+string(rune('0'+off))] = []byte(s[4 : len(s)-4])
		}
	}
	return m
}

// findNeedle reports the first form of the marker found in b.
func findNeedle(b []byte, needles map[string][]byte) (string, bool) {
	for form, nd := range needles {
		if bytes.Contains(b, nd) {
			return form, true
		}
	}
	return "", false
}

// checkNeedlesDetectable proves the search itself works: each encoding of
// the marker, at any alignment, hidden in random bytes, is found.
func checkNeedlesDetectable(t *testing.T, marker string, needles map[string][]byte) {
	t.Helper()
	noise := []byte(rand.Text() + rand.Text())
	var samples [][]byte
	u := utf16.Encode([]rune(marker))
	le := make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(le[2*i:], c)
	}
	samples = append(samples, []byte(marker), le, []byte(hex.EncodeToString([]byte(marker))))
	for off := range 3 {
		payload := append(append(make([]byte, 0, off+len(marker)+2), noise[:off]...), marker...)
		payload = append(payload, "xy"...)
		samples = append(samples, []byte(base64.StdEncoding.EncodeToString(payload)), []byte(base64.RawURLEncoding.EncodeToString(payload)))
	}
	for i, s := range samples {
		hay := slices.Concat(noise, s, noise)
		if _, ok := findNeedle(hay, needles); !ok {
			t.Fatalf("sample %d (%q…) was not detected: the search is broken", i, strings.ToValidUTF8(string(s[:min(len(s), 24)]), "?"))
		}
	}
}
