package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/parley-im/parley/client"
)

// recvGrace is how long `recv` without --timeout waits for more after the
// node said the queue is drained.
const recvGrace = 1500 * time.Millisecond

// messageJSON is one message line of `recv --json`.
type messageJSON struct {
	ID         string          `json:"id"`
	From       string          `json:"from"`
	FromDevice uint32          `json:"from_device"`
	To         string          `json:"to,omitempty"` // copies of our own messages from another device
	Text       string          `json:"text"`
	SentAt     string          `json:"sent_at"`
	ReceivedAt string          `json:"received_at"`
	Error      string          `json:"error,omitempty"`
	Attachment *attachmentJSON `json:"attachment,omitempty"`
	Group      *groupJSON      `json:"group,omitempty"`
	Event      *eventJSON      `json:"event,omitempty"` // a group's system line
}

// groupJSON names the group of a message in `recv --json`.
type groupJSON struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// eventJSON is a group membership change in `recv --json`.
type eventJSON struct {
	Type    string   `json:"type"`
	Actor   string   `json:"actor"`
	Targets []string `json:"targets,omitempty"`
	Name    string   `json:"name,omitempty"`
	Text    string   `json:"text"`
}

// statusJSON is one status line of `recv --json`.
type statusJSON struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	At     string `json:"at"`
}

func runRecv(ctx context.Context, g *globalFlags, args []string) error {
	fs := newFlagSet("recv", "recv [--json] [--timeout D] [--count N] [--read]")
	asJSON := fs.Bool("json", false, "one JSON object per line")
	timeout := fs.Duration("timeout", 0, "keep receiving this long (0: until the queue is drained)")
	count := fs.Int("count", 0, "stop after N messages (0: no limit)")
	read := fs.Bool("read", false, "also send read receipts for what is shown")
	downloads := fs.String("downloads", defaultDownloads(g.home), "save received files here (default HOME/downloads of this device)")
	if _, err := parseExactArgs(fs, args, 0); err != nil {
		return err
	}
	d, err := openDevice(g, *timeout > 0)
	if err != nil {
		return err
	}
	defer d.close()
	if *timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *timeout)
		defer cancel()
	}
	p := &printer{d: d, json: *asJSON, read: *read, ansi: colour(), enc: json.NewEncoder(os.Stdout), downloads: *downloads}

	// Messages an earlier command stored but never showed come first.
	if !d.Registered() {
		return client.ErrNotRegistered
	}
	pending, err := d.Inbox(ctx)
	if err != nil {
		return err
	}
	for _, m := range pending {
		if err := p.message(ctx, m); err != nil {
			return err
		}
		if *count > 0 && p.shown >= *count {
			return nil
		}
	}
	if err := d.connect(ctx, g); err != nil {
		return err
	}

	// Without --timeout: stop once the backlog is out and things are quiet.
	var idle <-chan time.Time
	if *timeout == 0 {
		idle = time.After(10 * time.Second) // a node that never says QueueDrained
	}
	drained := false
	for {
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return nil
			}
			return ctx.Err()
		case <-idle:
			return nil
		case ev := <-d.Events():
			switch ev := ev.(type) {
			case client.Message:
				if err := p.message(ctx, ev); err != nil {
					return err
				}
				if *count > 0 && p.shown >= *count {
					return nil
				}
			case client.StatusChange:
				p.status(ev)
			case client.QueueDrained:
				drained = true
			case client.IdentityChanged:
				fmt.Fprintf(os.Stderr, "note: the safety number with %s changed (device %d has a new key); compare it again: parley safety %s\n", ev.User, ev.Device, ev.User)
			case client.Disconnected:
				if *timeout == 0 && ev.Err != nil {
					return friendly(ev.Err, g)
				}
			}
			if drained && *timeout == 0 {
				idle = time.After(recvGrace)
			}
		}
	}
}

// printer shows messages and status changes, then marks them shown (and
// read with --read).
type printer struct {
	d     *device
	json  bool
	read  bool
	ansi  bool
	enc   *json.Encoder
	shown int
	// downloads is where attachments are saved (cli_media.go).
	downloads string
}

func (p *printer) message(ctx context.Context, m client.Message) error {
	var att *attachmentJSON
	if a := m.Attachment; a != nil && !m.Undecryptable {
		att = &attachmentJSON{Name: a.FileName, Size: a.Size, MIME: a.MIME}
		if path, err := fetch(ctx, p.d, m, p.downloads); err != nil {
			att.Error = err.Error()
		} else {
			att.Path = path
		}
		text := describe(a) + " → " + att.Path
		if att.Error != "" {
			text = describe(a) + " (not saved: " + att.Error + ")"
		}
		if m.Text != "" {
			text += " " + m.Text
		}
		if !p.json {
			m.Text = text
		}
	}
	if p.json {
		j := messageJSON{
			ID: m.ID.String(), From: m.From, FromDevice: m.FromDevice, Text: m.Text,
			SentAt: jsonTime(m.SentAt), ReceivedAt: jsonTime(m.ReceivedAt), Attachment: att,
		}
		if m.Outgoing && m.Group == nil {
			j.To = m.Peer
		}
		if m.Group != nil {
			j.Group = &groupJSON{ID: m.Group.ID.String(), Name: m.Group.Name}
		}
		if e := m.Event; e != nil {
			j.Event = &eventJSON{Type: e.Type, Actor: e.Actor, Targets: e.Targets, Name: e.Name, Text: e.String()}
		}
		if m.Undecryptable {
			j.Error = "could not decrypt"
		}
		if err := p.enc.Encode(j); err != nil {
			return err
		}
	} else {
		switch {
		case m.Group != nil:
			fmt.Println(groupLine(itemOf(m), p.ansi)) // cli_group.go
		case m.Undecryptable:
			fmt.Printf("[%s] %s: (could not decrypt this message)\n", fmtTime(m.ReceivedAt), m.From)
		case m.Outgoing:
			fmt.Printf("[%s] you → %s (from your device %d): %s\n", fmtTime(m.SentAt), m.Peer, m.FromDevice, m.Text)
		default:
			fmt.Printf("[%s] %s: %s\n", fmtTime(m.SentAt), m.From, m.Text)
		}
	}
	p.shown++
	if err := p.d.MarkShown(ctx, m); err != nil {
		return err
	}
	if p.read && !m.Outgoing && !m.Undecryptable && m.Event == nil {
		if err := p.d.MarkRead(ctx, m.From, m.ID); err != nil {
			fmt.Fprintf(os.Stderr, "read receipt to %s: %v\n", m.From, err)
		}
	}
	return nil
}

func (p *printer) status(s client.StatusChange) {
	if p.json {
		_ = p.enc.Encode(statusJSON{ID: s.ID.String(), Status: s.Status.String(), At: jsonTime(s.At)})
		return
	}
	fmt.Printf("%s: your message %s to %s\n", statusLabel(s.Status, p.ansi), s.ID, s.Peer)
}
