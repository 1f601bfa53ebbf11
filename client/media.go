package client

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"

	"github.com/parley-im/parley/client/internal/localpb"
	"github.com/parley-im/parley/e2e/mediacrypt"
	"github.com/parley-im/parley/internal/ioctx"
	"github.com/parley-im/parley/protocol"
	"github.com/parley-im/parley/protocol/pb"
)

// Bounds on an Attachment's metadata, so the Content carrying it always fits
// one end-to-end ciphertext (protocol.MaxCiphertextSize) with room for the
// Signal headers.
const (
	MaxCaptionSize   = 2 << 10
	MaxThumbnailSize = 10 << 10
	maxFileNameSize  = 255
	maxMIMESize      = 127
	maxURLSize       = 2 << 10
)

// FileOptions tunes SendFile and SendGroupFile.
type FileOptions struct {
	// Caption is shown with the file (UTF-8, at most MaxCaptionSize bytes).
	Caption string
	// MIME overrides the type guessed from the file name and content.
	MIME string
	// Progress, if set, is called as ciphertext bytes reach the node
	// (sent counts resumed bytes once). It runs on the uploading goroutine.
	Progress func(sent, total int64)
	// TempDir holds the encrypted copy during the upload (default
	// os.TempDir()); it is removed afterwards.
	TempDir string
}

// Attachment describes a file sent or received. The media key and hashes
// stay inside the SDK; DownloadAttachment uses them.
type Attachment struct {
	FileName       string
	MIME           string
	Caption        string
	Size           int64 // plaintext bytes
	CiphertextSize int64 // bytes on the node
	Width, Height  int   // images
	Thumbnail      []byte
	URL            string
	// Path is where the file is on this device: the original for files this
	// device sent, the decrypted copy once downloaded, else empty.
	Path string
}

// SendFile encrypts the file at path with a fresh media key, uploads the
// ciphertext to the node (resumably, with tus), then sends the URL, key and
// hashes end to end to every device of `to` and this user's other devices.
// Memory use does not depend on the file's size.
func (c *Client) SendFile(ctx context.Context, to, path string, opts FileOptions) (MessageID, error) {
	var id MessageID
	if err := protocol.ValidateHandle(to); err != nil {
		return id, err
	}
	if err := checkCaption(opts.Caption); err != nil {
		return id, err
	}
	a, _, err := c.account()
	if err != nil {
		return id, err
	}
	if to == a.User {
		return id, ErrSelf
	}
	cn, err := c.current()
	if err != nil {
		return id, err
	}
	att, abs, err := c.uploadAttachment(ctx, cn, path, opts)
	if err != nil {
		return id, err
	}
	if id, err = c.newMessageID(); err != nil {
		return id, err
	}
	now := c.cfg.Now().UnixMilli()
	content := &pb.Content{Body: &pb.Content_Attachment{Attachment: att}, SentAtMs: now}
	item := &localpb.HistoryItem{
		MessageId: id[:], Peer: to, Outgoing: true, From: a.User, FromDevice: a.DeviceId,
		Text: att.Caption, SentAtMs: now, ReceivedAtMs: now, Status: localpb.Status_PENDING, StatusAtMs: now,
		Attachment: mustMarshal(att), AttachmentPath: abs,
	}
	return id, c.sendContent(ctx, to, id, content, item, false)
}

func checkCaption(caption string) error {
	if len(caption) > MaxCaptionSize || !utf8.ValidString(caption) {
		return fmt.Errorf("%w: caption must be valid UTF-8 of at most %d bytes", ErrTextTooLong, MaxCaptionSize)
	}
	return nil
}

// uploadAttachment encrypts the file at path with a fresh media key and
// uploads the ciphertext through cn's node. It returns the Attachment to
// send (URL, key, hashes, metadata) and the file's absolute path. One
// upload serves every recipient device: 1:1 and group sends share it.
func (c *Client) uploadAttachment(ctx context.Context, cn *conn, path string, opts FileOptions) (*pb.Attachment, string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, "", fmt.Errorf("send file: %w", err)
	}
	f, err := os.Open(abs)
	if err != nil {
		return nil, "", fmt.Errorf("send file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, "", fmt.Errorf("send file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, "", fmt.Errorf("send file: %s is not a regular file", path)
	}
	att := &pb.Attachment{FileName: cleanFileName(fi.Name()), Size: fi.Size(), Caption: opts.Caption}
	att.Mime, err = detectMIME(f, att.FileName, opts.MIME)
	if err != nil {
		return nil, "", err
	}
	if strings.HasPrefix(att.Mime, "image/") {
		if th, w, h, err := makeThumbnail(f); err == nil {
			att.Thumbnail, att.Width, att.Height = th, uint32(w), uint32(h)
		} else {
			c.log.Debug("no thumbnail", "file", att.FileName, "err", err)
		}
	}

	// Encrypt to a temporary file: the ciphertext hash must be known before
	// the message is sent, and a resumed upload re-reads from the middle.
	tmp, err := os.CreateTemp(opts.TempDir, "parley-upload-*")
	if err != nil {
		return nil, "", fmt.Errorf("send file: %w", err)
	}
	defer func() { tmp.Close(); os.Remove(tmp.Name()) }()
	if err := c.encryptFile(ctx, f, tmp, att); err != nil {
		return nil, "", err
	}

	r, err := cn.request(ctx, &pb.ClientFrame{Body: &pb.ClientFrame_UploadSlot{UploadSlot: &pb.UploadSlotRequest{Size: att.CiphertextSize}}})
	if err != nil {
		var pe *protocol.Error
		if errors.As(err, &pe) && pe.Code == pb.ErrorCode_TOO_LARGE {
			return nil, "", fmt.Errorf("%w: %s", ErrFileTooLarge, pe.Reason)
		}
		return nil, "", fmt.Errorf("upload slot: %w", err)
	}
	slot := r.GetUploadSlot()
	if slot == nil || validMediaURL(slot.GetUploadUrl()) != nil || validMediaURL(slot.GetDownloadUrl()) != nil {
		return nil, "", fmt.Errorf("upload slot: unexpected reply %T", r.GetBody())
	}
	if err := c.tusUpload(ctx, slot, tmp, att.CiphertextSize, opts.Progress); err != nil {
		return nil, "", err
	}
	att.Url = slot.GetDownloadUrl()
	return att, abs, nil
}

// encryptFile streams f through mediacrypt into tmp and fills in the key,
// hashes and ciphertext size.
func (c *Client) encryptFile(ctx context.Context, f *os.File, tmp *os.File, att *pb.Attachment) error {
	key, err := mediacrypt.GenerateKey(c.cfg.Rand)
	if err != nil {
		return fmt.Errorf("media key: %w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("send file: %w", err)
	}
	bw := bufio.NewWriterSize(tmp, 64<<10)
	w, err := mediacrypt.NewWriter(bw, key, mediacrypt.Options{})
	if err != nil {
		return fmt.Errorf("encrypt file: %w", err)
	}
	n, err := io.Copy(w, ioctx.Reader(ctx, f))
	if err != nil {
		return fmt.Errorf("encrypt file: %w", err)
	}
	if n != att.Size {
		return fmt.Errorf("encrypt file: %s changed while being read (%d bytes, expected %d)", att.FileName, n, att.Size)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("encrypt file: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("encrypt file: %w", err)
	}
	att.Key, att.PlaintextSha256, att.CiphertextSha256 = key, w.PlaintextSHA256(), w.CiphertextSHA256()
	att.CiphertextSize = w.CiphertextSize()
	return nil
}

// DownloadAttachment fetches the attachment of msg (a Message event or a
// history item's message), verifies and decrypts it into dir, and returns
// the file's path. The download streams in constant memory and resumes
// with HTTP Range after a dropped connection. Every chunk is authenticated
// before its plaintext is written and both announced hashes are checked;
// on any failure no file is left behind, and a tampered or truncated blob
// yields an error matching ErrAttachmentCorrupt.
func (c *Client) DownloadAttachment(ctx context.Context, msg Message, dir string) (string, error) {
	hk, item, att, err := c.loadAttachment(ctx, msg)
	if err != nil {
		return "", err
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return "", fmt.Errorf("download: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("download: %w", err)
	}
	dst, err := freeName(dir, att.GetFileName())
	if err != nil {
		return "", err
	}
	src := &rangeReader{ctx: ctx, hc: c.httpClient(), url: att.GetUrl(), limit: att.GetCiphertextSize() + 1}
	defer src.Close()
	err = mediacrypt.DecryptFile(ctx, src, att.GetKey(), att.GetCiphertextSha256(), att.GetPlaintextSha256(), dst)
	if err != nil {
		if errors.Is(err, mediacrypt.ErrTampered) || errors.Is(err, mediacrypt.ErrTruncated) ||
			errors.Is(err, mediacrypt.ErrHashMismatch) || errors.Is(err, mediacrypt.ErrInvalidHeader) {
			return "", fmt.Errorf("%s: %w: %w", att.GetFileName(), ErrAttachmentCorrupt, err)
		}
		return "", fmt.Errorf("download %s: %w", att.GetFileName(), err)
	}
	if err := c.setAttachmentPath(ctx, hk, item, dst); err != nil {
		return dst, err
	}
	return dst, nil
}

func (c *Client) loadAttachment(ctx context.Context, msg Message) ([]byte, *localpb.HistoryItem, *pb.Attachment, error) {
	if protocol.ValidateHandle(msg.From) != nil {
		return nil, nil, nil, ErrUnknownMessage
	}
	hk, err := c.st.Get(ctx, keyMessageID(msg.From, msg.ID))
	if errors.Is(err, ErrNotFound) {
		return nil, nil, nil, ErrUnknownMessage
	}
	if err != nil {
		return nil, nil, nil, fmt.Errorf("attachment: %w", err)
	}
	b, err := c.st.Get(ctx, hk)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("attachment: %w", ErrUnknownMessage)
	}
	item, err := decodeHistoryItem(b)
	if err != nil {
		return nil, nil, nil, err
	}
	if len(item.Attachment) == 0 {
		return nil, nil, nil, ErrNoAttachment
	}
	att, err := decodeAttachment(item.Attachment)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("attachment: %w: %w", ErrBadRecord, err)
	}
	return hk, item, att, nil
}

func (c *Client) setAttachmentPath(ctx context.Context, hk []byte, _ *localpb.HistoryItem, path string) error {
	c.cryptoMu.Lock()
	defer c.cryptoMu.Unlock()
	t := newTxn(c.st)
	b, err := t.Get(ctx, hk)
	if err != nil {
		return fmt.Errorf("attachment path: %w", err)
	}
	h, err := decodeHistoryItem(b)
	if err != nil {
		return err
	}
	h.AttachmentPath = path
	t.Set(hk, mustMarshal(h))
	return t.commit(ctx, c.st)
}

func (c *Client) httpClient() *http.Client {
	if c.cfg.HTTPClient != nil {
		return c.cfg.HTTPClient
	}
	return http.DefaultClient
}

// handleAttachmentLocked stores a received Attachment like a text message
// (the caption is its text), including copies from our other devices.
func (c *Client) handleAttachmentLocked(t *txn, a *localpb.Account, env *pb.Envelope, content *pb.Content, seenKey []byte, events []Event) ([]Event, []StatusChange, error) {
	from, id := env.GetFrom(), MessageID(env.GetMessageId())
	att := content.GetAttachment()
	h := &localpb.HistoryItem{
		MessageId: id[:], Peer: from, From: from, FromDevice: env.GetFromDevice(), Text: att.GetCaption(),
		SentAtMs: content.GetSentAtMs(), ReceivedAtMs: c.cfg.Now().UnixMilli(), ServerTimeMs: env.GetServerTimeMs(),
		Attachment: mustMarshal(att),
	}
	if from == a.User {
		if content.GetSyncTo() == "" || content.GetSyncTo() == a.User {
			t.Set(seenKey, seenMarker)
			return events, nil, nil
		}
		h.Peer, h.Outgoing = content.GetSyncTo(), true
		h.Status, h.StatusAtMs = localpb.Status_SENT, env.GetServerTimeMs()
	}
	return append(events, c.storeItemLocked(t, h, seenKey)), nil, nil
}

// decodeAttachment parses and checks a stored Attachment.
func decodeAttachment(b []byte) (*pb.Attachment, error) {
	if len(b) > protocol.MaxCiphertextSize {
		return nil, fmt.Errorf("attachment of %d bytes: too large", len(b))
	}
	var at pb.Attachment
	if err := proto.Unmarshal(b, &at); err != nil {
		return nil, fmt.Errorf("decode attachment: %w", err)
	}
	if err := validateAttachment(&at); err != nil {
		return nil, err
	}
	return &at, nil
}

// validateAttachment checks what a sender announced before anything uses
// it: key and hash sizes, a plausible http(s) URL, bounded metadata, and a
// ciphertext size that matches the plaintext size under mediacrypt.
func validateAttachment(at *pb.Attachment) error {
	switch {
	case len(at.GetKey()) != mediacrypt.KeySize:
		return fmt.Errorf("attachment: key of %d bytes", len(at.GetKey()))
	case len(at.GetPlaintextSha256()) != 32 || len(at.GetCiphertextSha256()) != 32:
		return errors.New("attachment: hashes must be 32 bytes")
	case at.GetSize() < 0 || at.GetCiphertextSize() <= 0:
		return errors.New("attachment: negative size")
	case len(at.GetFileName()) > maxFileNameSize || len(at.GetMime()) > maxMIMESize:
		return errors.New("attachment: file name or type too long")
	case len(at.GetCaption()) > MaxCaptionSize:
		return errors.New("attachment: caption too long")
	case len(at.GetThumbnail()) > MaxThumbnailSize:
		return errors.New("attachment: thumbnail too large")
	}
	if at.GetSize() > 1<<50 || mediacrypt.CiphertextSize(at.GetSize()) != at.GetCiphertextSize() {
		return errors.New("attachment: ciphertext size does not match the file size")
	}
	return validMediaURL(at.GetUrl())
}

func validMediaURL(s string) error {
	if len(s) == 0 || len(s) > maxURLSize {
		return fmt.Errorf("attachment: URL of %d bytes", len(s))
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return fmt.Errorf("attachment: URL %q: want http(s)://host/…", s)
	}
	return nil
}

func attachmentFromRecord(h *localpb.HistoryItem) *Attachment {
	if len(h.Attachment) == 0 {
		return nil
	}
	at, err := decodeAttachment(h.Attachment)
	if err != nil {
		return nil
	}
	return &Attachment{
		FileName: at.GetFileName(), MIME: at.GetMime(), Caption: at.GetCaption(), Size: at.GetSize(),
		CiphertextSize: at.GetCiphertextSize(), Width: int(at.GetWidth()), Height: int(at.GetHeight()),
		Thumbnail: at.GetThumbnail(), URL: at.GetUrl(), Path: h.AttachmentPath,
	}
}

// cleanFileName keeps a file name safe to create in a downloads directory:
// the base name only, no control characters, no leading dots, bounded.
func cleanFileName(name string) string {
	name = strings.ToValidUTF8(name, "_")
	name = filepath.Base(strings.ReplaceAll(name, "\\", "/"))
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '/' || r == '\\' || r == ':' {
			return '_'
		}
		return r
	}, name)
	name = strings.TrimLeft(name, ". ")
	for len(name) > maxFileNameSize {
		_, sz := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-sz]
	}
	if name == "" {
		name = "attachment"
	}
	return name
}

// freeName picks dir/name, or "name (n).ext" when that exists.
func freeName(dir, name string) (string, error) {
	name = cleanFileName(name)
	ext := filepath.Ext(name)
	stem := strings.TrimSuffix(name, ext)
	for i := 0; i < 1000; i++ {
		p := filepath.Join(dir, name)
		if i > 0 {
			p = filepath.Join(dir, fmt.Sprintf("%s (%d)%s", stem, i, ext))
		}
		if _, err := os.Lstat(p); errors.Is(err, os.ErrNotExist) {
			return p, nil
		}
	}
	return "", fmt.Errorf("download: no free file name for %s in %s", name, dir)
}

// detectMIME: the caller's choice, else the extension's, else sniffed.
func detectMIME(f *os.File, name, override string) (string, error) {
	if override != "" {
		if len(override) > maxMIMESize {
			return "", fmt.Errorf("MIME type %q too long", override)
		}
		return override, nil
	}
	if t := mime.TypeByExtension(strings.ToLower(filepath.Ext(name))); t != "" && len(t) <= maxMIMESize {
		t, _, _ = strings.Cut(t, ";")
		return t, nil
	}
	var head [512]byte
	n, err := f.ReadAt(head[:], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("send file: %w", err)
	}
	t, _, _ := strings.Cut(http.DetectContentType(head[:n]), ";")
	return t, nil
}
