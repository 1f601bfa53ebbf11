package client_test

import (
	"testing"

	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/server"
)

// nextFile waits for the next message carrying an attachment, skipping
// group system lines.
func (d *device) nextFile(t testing.TB) client.Message {
	t.Helper()
	for {
		m := d.nextMessage(t)
		if m.Event != nil {
			continue
		}
		if m.Attachment == nil {
			t.Fatalf("message %s carries no attachment (text %q)", m.ID, m.Text)
		}
		return m
	}
}

// downloadSum downloads m's attachment on d and returns the file's SHA-256.
func downloadSum(t testing.TB, d *device, m client.Message) [32]byte {
	t.Helper()
	path, err := d.DownloadAttachment(ctxT(t), m, t.TempDir())
	if err != nil {
		t.Fatalf("DownloadAttachment: %v", err)
	}
	return fileSum(t, path)
}

// One upload reaches every member of a group; each downloads the same
// bytes, and the node holds one blob.
func TestGroupFileEveryMember(t *testing.T) {
	n, _ := mediaNode(t, server.Config{})
	ctx := ctxT(t)
	devs := users(t, n, "alice", "bob", "carol")
	alice, bob, carol := devs[0], devs[1], devs[2]
	if _, err := alice.CreateGroup(ctx, "trio", []string{"bob", "carol"}); err != nil {
		t.Fatal(err)
	}
	src, sum := writeFile(t, t.TempDir(), "report.bin", 1<<20)
	id, err := alice.SendGroupFile(ctx, "trio", src, client.FileOptions{Caption: "for all"})
	if err != nil {
		t.Fatalf("SendGroupFile: %v", err)
	}
	for _, d := range []*device{bob, carol} {
		m := d.nextGroupMessage(t)
		a := m.Attachment
		if m.ID != id || m.From != "alice" || m.Group == nil || m.Group.Name != "trio" || a == nil ||
			a.FileName != "report.bin" || a.Size != 1<<20 || a.Caption != "for all" || m.Text != "for all" {
			t.Fatalf("group file on a member device: %+v", m)
		}
		if downloadSum(t, d, m) != sum {
			t.Fatal("downloaded group file differs from the sent file")
		}
	}
	if files := blobFiles(t, n); len(files) != 1 {
		t.Fatalf("node holds %d blobs for one group file, want 1", len(files))
	}
	if err := alice.WaitStatus(ctx, id, client.StatusDelivered); err != nil {
		t.Fatalf("✓✓ for the group file: %v", err)
	}
	h, err := alice.GroupHistory(ctx, "trio", 0)
	if err != nil {
		t.Fatal(err)
	}
	last := h[len(h)-1]
	if last.ID != id || !last.Outgoing || last.Attachment == nil || last.Attachment.Path != src {
		t.Fatalf("sender's group history: %+v", last)
	}
	// Caption limits hold for groups too, before anything is uploaded.
	long := make([]byte, client.MaxCaptionSize+1)
	if _, err := alice.SendGroupFile(ctx, "trio", src, client.FileOptions{Caption: string(long)}); err == nil {
		t.Fatal("oversized caption accepted")
	}
	if _, err := alice.SendGroupFile(ctx, "nope", src, client.FileOptions{}); err == nil {
		t.Fatal("file sent to an unknown group")
	}
	if files := blobFiles(t, n); len(files) != 1 {
		t.Fatalf("refused sends left %d blobs", len(files))
	}
}

// Every linked device gets files: the recipient's companion downloads the
// same bytes, and the sender's companion gets the sync copy, for 1:1 and
// group sends.
func TestLinkedDevicesGetFiles(t *testing.T) {
	n, _ := mediaNode(t, server.Config{})
	ctx := ctxT(t)
	devs := users(t, n, "alice", "bob")
	alice, bob := devs[0], devs[1]
	bobLaptop := link(t, n, bob, "laptop")
	aliceLaptop := link(t, n, alice, "laptop")

	src, sum := writeFile(t, t.TempDir(), "photo.bin", 1<<20)
	id, err := alice.SendFile(ctx, "bob", src, client.FileOptions{Caption: "1:1"})
	if err != nil {
		t.Fatalf("SendFile: %v", err)
	}
	for name, d := range map[string]*device{"bob's phone": bob, "bob's laptop": bobLaptop} {
		m := d.nextFile(t)
		if m.ID != id || m.Outgoing || m.Attachment.FileName != "photo.bin" || m.Attachment.Size != 1<<20 {
			t.Fatalf("%s: %+v", name, m)
		}
		if downloadSum(t, d, m) != sum {
			t.Fatalf("%s downloaded different bytes", name)
		}
	}
	m := aliceLaptop.nextFile(t)
	if m.ID != id || !m.Outgoing || m.Peer != "bob" || m.Attachment.FileName != "photo.bin" || m.Attachment.Size != 1<<20 || m.Text != "1:1" {
		t.Fatalf("sync copy on alice's laptop: %+v", m)
	}
	if downloadSum(t, aliceLaptop, m) != sum {
		t.Fatal("alice's laptop downloaded different bytes")
	}

	if _, err := alice.CreateGroup(ctx, "pair", []string{"bob"}); err != nil {
		t.Fatal(err)
	}
	gsrc, gsum := writeFile(t, t.TempDir(), "slides.bin", 256<<10)
	gid, err := alice.SendGroupFile(ctx, "pair", gsrc, client.FileOptions{})
	if err != nil {
		t.Fatalf("SendGroupFile: %v", err)
	}
	for name, d := range map[string]*device{"bob's phone": bob, "bob's laptop": bobLaptop, "alice's laptop": aliceLaptop} {
		m := d.nextGroupMessage(t)
		if m.ID != gid || m.Attachment == nil || m.Group.Name != "pair" || m.Outgoing != (d == aliceLaptop) {
			t.Fatalf("group file on %s: %+v", name, m)
		}
		if downloadSum(t, d, m) != gsum {
			t.Fatalf("%s downloaded different bytes", name)
		}
	}
	if files := blobFiles(t, n); len(files) != 2 {
		t.Fatalf("node holds %d blobs for two files, want 2", len(files))
	}
}
