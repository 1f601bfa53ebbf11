package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/parley-im/parley/client"
)

// attachmentJSON is the "attachment" object of `recv --json`.
type attachmentJSON struct {
	Name  string `json:"name"`
	Size  int64  `json:"size"`
	MIME  string `json:"mime"`
	Path  string `json:"path,omitempty"`
	Error string `json:"error,omitempty"`
}

// sendTextOrFile sends a text, or the file at path with the caption, to
// a user or (group set) to the group named by to.
func sendTextOrFile(ctx context.Context, d *device, to string, group bool, text, path, caption string) (client.MessageID, error) {
	if path == "" {
		if group {
			return d.SendGroup(ctx, to, text)
		}
		return d.Send(ctx, to, text)
	}
	if caption == "" {
		caption = text
	}
	bar := newProgress(os.Stderr, filepath.Base(path))
	opts := client.FileOptions{Caption: caption, Progress: bar.update}
	var id client.MessageID
	var err error
	if group {
		id, err = d.SendGroupFile(ctx, to, path, opts)
	} else {
		id, err = d.SendFile(ctx, to, path, opts)
	}
	bar.done(err)
	return id, err
}

// progress draws a bar on a terminal, else a line per 10 %.
type progress struct {
	f      *os.File
	name   string
	tty    bool
	last   int
	lastAt time.Time
}

func newProgress(f *os.File, name string) *progress {
	return &progress{f: f, name: name, tty: term.IsTerminal(int(f.Fd())), last: -1}
}

func (p *progress) update(sent, total int64) {
	if total <= 0 {
		return
	}
	pct := int(sent * 100 / total)
	if p.tty {
		if pct == p.last && time.Since(p.lastAt) < 200*time.Millisecond {
			return
		}
		const width = 30
		fill := pct * width / 100
		fmt.Fprintf(p.f, "\r%s [%s%s] %3d%% %s/%s", p.name, strings.Repeat("█", fill), strings.Repeat("·", width-fill), pct, humanSize(sent), humanSize(total))
	} else {
		if pct/10 == p.last/10 && p.last >= 0 {
			return
		}
		fmt.Fprintf(p.f, "uploading %s: %d%%\n", p.name, pct)
	}
	p.last, p.lastAt = pct, time.Now()
}

func (p *progress) done(err error) {
	if p.tty && p.last >= 0 {
		fmt.Fprintln(p.f)
	}
}

func humanSize(n int64) string {
	switch {
	case n >= 1e9:
		return strconv.FormatFloat(float64(n)/1e9, 'f', 1, 64) + " GB"
	case n >= 1e6:
		return strconv.FormatFloat(float64(n)/1e6, 'f', 1, 64) + " MB"
	case n >= 1e3:
		return strconv.FormatFloat(float64(n)/1e3, 'f', 1, 64) + " kB"
	}
	return strconv.FormatInt(n, 10) + " B"
}

// describe renders "📎 holiday.jpg (2.1 MB, image/jpeg)".
func describe(a *client.Attachment) string {
	return fmt.Sprintf("📎 %s (%s, %s)", a.FileName, humanSize(a.Size), a.MIME)
}

// itemText is what a history line shows: the text, or the file and caption.
func itemText(it client.HistoryItem) string {
	if it.Attachment == nil {
		return it.Text
	}
	s := describe(it.Attachment)
	if it.Attachment.Path != "" {
		s += " → " + it.Attachment.Path
	}
	if it.Text != "" {
		s += " " + it.Text
	}
	return s
}

// defaultDownloads is the device's own downloads folder: files received by
// different devices (or test users) on one machine never collide, and the
// path is printed on every receipt.
func defaultDownloads(home string) string {
	return filepath.Join(home, "downloads")
}

// fetch downloads a received attachment for recv; the error is returned
// for display, not fatal.
func fetch(ctx context.Context, d *device, m client.Message, dir string) (string, error) {
	return d.DownloadAttachment(ctx, m, dir)
}

// attachments numbers the attachments chat shows, for /save and /open.
type attachments struct{ items []client.Message }

func (l *attachments) add(it client.HistoryItem) string {
	if it.Attachment == nil {
		return ""
	}
	l.items = append(l.items, client.Message{ID: it.ID, From: it.From})
	return fmt.Sprintf("[%d] ", len(l.items))
}

// command handles "/save N [DIR]" and "/open N"; false if line is neither.
func (l *attachments) command(ctx context.Context, d *device, line string) bool {
	f := strings.Fields(line)
	if len(f) == 0 || (f[0] != "/save" && f[0] != "/open") {
		return false
	}
	if len(f) < 2 || len(f) > 3 {
		fmt.Println("usage: /save N [DIR] or /open N")
		return true
	}
	n, err := strconv.Atoi(f[1])
	if err != nil || n < 1 || n > len(l.items) {
		fmt.Printf("no attachment %s (there are %d)\n", f[1], len(l.items))
		return true
	}
	dir := defaultDownloads(d.home)
	if len(f) == 3 {
		dir = f[2]
	}
	path, err := d.DownloadAttachment(ctx, l.items[n-1], dir)
	if err != nil {
		fmt.Printf("  not saved: %v\n", err)
		return true
	}
	fmt.Printf("  saved → %s\n", path)
	if f[0] == "/open" {
		opener := "xdg-open"
		if runtime.GOOS == "darwin" {
			opener = "open"
		}
		if err := exec.Command(opener, path).Start(); err != nil {
			fmt.Printf("  could not open it: %v\n", err)
		}
	}
	return true
}
