package interop_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley/e2e"
)

// installHint is the one command that makes these tests run instead of skip.
const installHint = "npm ci --prefix e2e/interop/harness"

// Releases pinned in harness/package.json (see DECISION.md).
const (
	releaseCurrent = "0.90.0" // newest libsignal that still talks to a peer without SPQR
	releaseLegacy  = "0.72.1" // pre-SPQR, the last one that accepts sessions without KEM
)

// maxReplyBytes bounds one reply line from the harness.
const maxReplyBytes = 1 << 20

// requireHarness skips the test when node or the installed harness is
// missing, naming the command that fixes it.
func requireHarness(t testing.TB) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skipf("node is not on PATH: install Node.js >= 20, then run: %s", installHint)
	}
	for _, dir := range []string{"@signalapp/libsignal-client", "libsignal-client-0.72"} {
		if _, err := os.Stat(filepath.Join("harness", "node_modules", dir, "package.json")); err != nil {
			t.Skipf("harness/node_modules/%s is missing: run: %s", dir, installHint)
		}
	}
	return node
}

// jsDevice is one libsignal device in a Node child process.
type jsDevice struct {
	t       testing.TB
	release string
	addr    e2e.Address
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	out     *bufio.Reader
	stderr  *bytes.Buffer
	mu      sync.Mutex
	nextID  int
	regID   uint32
	idKey   e2e.PublicKey
}

type jsReply struct {
	ID    int    `json:"id"`
	OK    bool   `json:"ok"`
	Error string `json:"error"`
}

// startJS starts a libsignal device named addr; legacy selects the pre-SPQR release.
func startJS(t testing.TB, addr e2e.Address, legacy bool) *jsDevice {
	t.Helper()
	node := requireHarness(t)
	args := []string{filepath.Join("harness", "device.js")}
	release := releaseCurrent
	if legacy {
		args = append(args, "--legacy")
		release = releaseLegacy
	}
	cmd := exec.Command(node, args...)
	cmd.Env = append(os.Environ(), "LIBSIGNAL_MODULE=")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	d := &jsDevice{t: t, release: release, addr: addr, cmd: cmd, stdin: stdin,
		out: bufio.NewReaderSize(stdout, 64<<10), stderr: new(bytes.Buffer)}
	cmd.Stderr = d.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", node, err)
	}
	t.Cleanup(func() {
		_ = stdin.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() && d.stderr.Len() > 0 {
			t.Logf("libsignal %s stderr:\n%s", release, d.stderr.String())
		}
	})
	var info struct {
		Version string `json:"version"`
	}
	if err := d.call("info", nil, &info); err != nil {
		t.Fatalf("harness: %v", err)
	}
	if info.Version != release {
		t.Fatalf("harness loaded libsignal %s, want %s: run %s", info.Version, release, installHint)
	}
	var id struct {
		RegistrationID uint32 `json:"registrationId"`
		IdentityKey    []byte `json:"identityKey"`
	}
	if err := d.call("init", map[string]any{"name": addr.Name, "device": addr.DeviceID}, &id); err != nil {
		t.Fatalf("harness init: %v", err)
	}
	d.regID = id.RegistrationID
	if d.idKey, err = e2e.ParsePublicKey(id.IdentityKey); err != nil {
		t.Fatalf("libsignal identity key: %v", err)
	}
	return d
}

// call sends one request and decodes the reply into out. A reply with
// ok=false becomes an error carrying libsignal's message.
func (d *jsDevice) call(op string, req map[string]any, out any) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.nextID++
	msg := map[string]any{"op": op, "id": d.nextID}
	for k, v := range req {
		msg[k] = v
	}
	line, err := json.Marshal(msg)
	if err != nil {
		return fmt.Errorf("%s: encode request: %w", op, err)
	}
	if _, err := d.stdin.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("%s: write to harness: %w (stderr: %s)", op, err, d.stderr.String())
	}
	reply, err := d.out.ReadSlice('\n')
	if err != nil {
		return fmt.Errorf("%s: read from harness: %w (stderr: %s)", op, err, d.stderr.String())
	}
	if len(reply) > maxReplyBytes {
		return fmt.Errorf("%s: reply of %d bytes", op, len(reply))
	}
	var head jsReply
	if err := json.Unmarshal(reply, &head); err != nil {
		return fmt.Errorf("%s: decode reply %q: %w", op, reply, err)
	}
	if head.ID != d.nextID {
		return fmt.Errorf("%s: reply id %d, want %d", op, head.ID, d.nextID)
	}
	if !head.OK {
		return fmt.Errorf("libsignal %s %s: %s", d.release, op, head.Error)
	}
	if out != nil {
		if err := json.Unmarshal(reply, out); err != nil {
			return fmt.Errorf("%s: decode reply: %w", op, err)
		}
	}
	return nil
}

// jsBundle is a prekey bundle as the harness reads and writes it; []byte
// fields travel as base64, which encoding/json does by itself.
type jsBundle struct {
	RegistrationID        uint32 `json:"registrationId"`
	DeviceID              uint32 `json:"deviceId"`
	IdentityKey           []byte `json:"identityKey"`
	PreKeyID              uint32 `json:"preKeyId,omitempty"`
	PreKey                []byte `json:"preKey,omitempty"`
	SignedPreKeyID        uint32 `json:"signedPreKeyId"`
	SignedPreKey          []byte `json:"signedPreKey"`
	SignedPreKeySignature []byte `json:"signedPreKeySignature"`
	KEMPreKeyID           uint32 `json:"kemPreKeyId,omitempty"`
	KEMPreKey             []byte `json:"kemPreKey,omitempty"`
	KEMPreKeySignature    []byte `json:"kemPreKeySignature,omitempty"`
}

// bundle asks libsignal for a fresh bundle, as a server would hand it out.
func (d *jsDevice) bundle(oneTime, kem bool) (jsBundle, error) {
	var b jsBundle
	err := d.call("bundle", map[string]any{"preKey": oneTime, "kem": kem}, &b)
	return b, err
}

func (b jsBundle) toE2E() (e2e.PreKeyBundle, error) {
	out := e2e.PreKeyBundle{RegistrationID: b.RegistrationID, DeviceID: b.DeviceID,
		SignedPreKeyID: b.SignedPreKeyID, SignedPreKeySignature: b.SignedPreKeySignature,
		PreKeyID: b.PreKeyID, KEMPreKeyID: b.KEMPreKeyID, KEMPreKeySignature: b.KEMPreKeySignature}
	var err error
	if out.IdentityKey, err = e2e.ParsePublicKey(b.IdentityKey); err != nil {
		return out, fmt.Errorf("identity key: %w", err)
	}
	if out.SignedPreKey, err = e2e.ParsePublicKey(b.SignedPreKey); err != nil {
		return out, fmt.Errorf("signed prekey: %w", err)
	}
	if b.PreKey != nil {
		k, err := e2e.ParsePublicKey(b.PreKey)
		if err != nil {
			return out, fmt.Errorf("one-time prekey: %w", err)
		}
		out.PreKey = &k
	}
	if b.KEMPreKey != nil {
		k, err := e2e.ParseKEMPublicKey(b.KEMPreKey)
		if err != nil {
			return out, fmt.Errorf("KEM prekey (type byte 0x%02x): %w", b.KEMPreKey[0], err)
		}
		out.KEMPreKey = &k
	}
	return out, nil
}

func fromE2E(b e2e.PreKeyBundle) jsBundle {
	out := jsBundle{RegistrationID: b.RegistrationID, DeviceID: b.DeviceID,
		IdentityKey: b.IdentityKey.Bytes(), SignedPreKeyID: b.SignedPreKeyID,
		SignedPreKey: b.SignedPreKey.Bytes(), SignedPreKeySignature: b.SignedPreKeySignature}
	if b.PreKey != nil {
		out.PreKeyID, out.PreKey = b.PreKeyID, b.PreKey.Bytes()
	}
	if b.KEMPreKey != nil {
		out.KEMPreKeyID, out.KEMPreKey, out.KEMPreKeySignature = b.KEMPreKeyID, b.KEMPreKey.Bytes(), b.KEMPreKeySignature
	}
	return out
}

func jsAddr(a e2e.Address) map[string]any {
	return map[string]any{"name": a.Name, "device": a.DeviceID}
}

// goDevice is one device running package e2e with in-memory stores.
type goDevice struct {
	addr   e2e.Address
	cfg    e2e.Config
	store  *e2e.MemoryStore
	id     e2e.IdentityKeyPair
	regID  uint32
	nextID uint32
}

func newGo(t testing.TB, addr e2e.Address, allowNoKEM bool) *goDevice {
	t.Helper()
	id, err := e2e.GenerateKeyPair(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var r [2]byte
	if _, err := rand.Read(r[:]); err != nil {
		t.Fatal(err)
	}
	reg := uint32(binary.BigEndian.Uint16(r[:])%16380) + 1
	return &goDevice{addr: addr, cfg: e2e.Config{AllowNoKEM: allowNoKEM}, store: e2e.NewMemoryStore(id, reg),
		id: id, regID: reg, nextID: 100}
}

// bundle makes and stores fresh prekeys and returns what a server would hand out.
func (g *goDevice) bundle(ctx context.Context, oneTime, kem bool) (e2e.PreKeyBundle, error) {
	b := e2e.PreKeyBundle{RegistrationID: g.regID, DeviceID: g.addr.DeviceID, IdentityKey: g.id.Public}
	g.nextID++
	spk, err := e2e.GenerateSignedPreKey(rand.Reader, g.id, g.nextID)
	if err != nil {
		return b, err
	}
	if err := g.store.StoreSignedPreKey(ctx, spk); err != nil {
		return b, err
	}
	b.SignedPreKeyID, b.SignedPreKey, b.SignedPreKeySignature = spk.ID, spk.KeyPair.Public, spk.Signature
	if oneTime {
		g.nextID++
		pks, err := e2e.GeneratePreKeys(rand.Reader, g.nextID, 1)
		if err != nil {
			return b, err
		}
		if err := g.store.StorePreKey(ctx, pks[0]); err != nil {
			return b, err
		}
		pub := pks[0].KeyPair.Public
		b.PreKeyID, b.PreKey = pks[0].ID, &pub
	}
	if kem {
		g.nextID++
		// Kyber1024 (0x08): no released libsignal accepts ML-KEM-1024 (0x0A) keys.
		kp, err := e2e.GenerateKEMPreKeyOfType(rand.Reader, g.id, g.nextID, false, e2e.KEMKyber1024)
		if err != nil {
			return b, err
		}
		if err := g.store.StoreKEMPreKey(ctx, kp); err != nil {
			return b, err
		}
		pub := kp.KeyPair.Public()
		b.KEMPreKeyID, b.KEMPreKey, b.KEMPreKeySignature = kp.ID, &pub, kp.Signature
	}
	return b, nil
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
