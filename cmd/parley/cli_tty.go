package main

import (
	"bufio"
	"context"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/parley-im/parley/client"
)

// lineInput feeds `chat` the user's lines. On a terminal it runs x/term's
// line editor in raw mode, so every keystroke is seen (typing notices) and
// what the chat prints meanwhile is drawn above the line being typed
// instead of through it. Elsewhere (pipes, tests) it reads plain lines.
type lineInput struct {
	lines chan string   // closed at end of input (Ctrl-D, Ctrl-C, EOF)
	keys  chan struct{} // a key was pressed (buffered 1; terminals only)
	close func()        // restores the terminal and the standard streams
}

func startInput(ctx context.Context) *lineInput {
	in := &lineInput{lines: make(chan string), keys: make(chan struct{}, 1), close: func() {}}
	fd := int(os.Stdin.Fd())
	if !term.IsTerminal(fd) || !term.IsTerminal(int(os.Stdout.Fd())) {
		go func() {
			defer close(in.lines)
			sc := bufio.NewScanner(os.Stdin)
			sc.Buffer(make([]byte, 0, 4096), client.MaxTextSize+1)
			for sc.Scan() {
				select {
				case in.lines <- sc.Text():
				case <-ctx.Done():
					return
				}
			}
		}()
		return in
	}
	old, err := term.MakeRaw(fd)
	if err != nil {
		close(in.lines)
		return in
	}
	realOut, realErr := os.Stdout, os.Stderr
	tm := term.NewTerminal(struct {
		io.Reader
		io.Writer
	}{os.Stdin, realOut}, "> ")
	tm.AutoCompleteCallback = func(string, int, rune) (string, int, bool) {
		select {
		case in.keys <- struct{}{}:
		default:
		}
		return "", 0, false
	}
	// Everything printed goes through the editor, which redraws the prompt
	// (and turns \n into \r\n in raw mode).
	r, w, err := os.Pipe()
	if err != nil {
		term.Restore(fd, old)
		close(in.lines)
		return in
	}
	os.Stdout, os.Stderr = w, w
	copied := make(chan struct{})
	go func() { io.Copy(tm, r); close(copied) }()
	var once sync.Once
	in.close = func() {
		once.Do(func() {
			os.Stdout, os.Stderr = realOut, realErr
			w.Close()
			select {
			case <-copied:
			case <-time.After(time.Second):
			}
			term.Restore(fd, old)
			realOut.WriteString("\n")
		})
	}
	go func() {
		defer close(in.lines)
		for {
			line, err := tm.ReadLine()
			if err != nil {
				return
			}
			select {
			case in.lines <- line:
			case <-ctx.Done():
				return
			}
		}
	}()
	return in
}

// typingNotifier sends rate-limited typing notices for a 1:1 chat: one
// "composing" per burst of keys (again after typingRepeat), "paused" after
// typingIdle without keys. Sends run in the background and may fail
// silently: typing is best effort.
type typingNotifier struct {
	d         *device
	peer      string
	composing bool
	sentAt    time.Time
	lastKey   time.Time
}

const (
	typingRepeat = 4 * time.Second
	typingIdle   = 5 * time.Second
)

func (n *typingNotifier) send(ctx context.Context, composing bool) {
	n.composing, n.sentAt = composing, time.Now()
	go func() {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_ = n.d.SendTyping(ctx, n.peer, composing)
	}()
}

func (n *typingNotifier) key(ctx context.Context) {
	n.lastKey = time.Now()
	if !n.composing || time.Since(n.sentAt) > typingRepeat {
		n.send(ctx, true)
	}
}

// tick sends "paused" once the user stopped typing.
func (n *typingNotifier) tick(ctx context.Context) {
	if n.composing && time.Since(n.lastKey) > typingIdle {
		n.send(ctx, false)
	}
}

// sent: a message went out, which ends the burst (receivers clear the
// indicator when the message arrives).
func (n *typingNotifier) sent() { n.composing = false }

// presenceLine renders a Presence event for the chat header.
func presenceLine(p client.Presence) string {
	switch {
	case p.Online:
		return p.User + " is online"
	case !p.LastSeen.IsZero():
		return p.User + " was last seen " + fmtTime(p.LastSeen)
	}
	return p.User + " is offline"
}
