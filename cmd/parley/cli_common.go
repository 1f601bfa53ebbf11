package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/client/storage/pebblekv"
	"github.com/parley-im/parley/protocol"
	"github.com/parley-im/parley/protocol/pb"
	"github.com/parley-im/parley/transport"
)

// device is an opened --home: the SDK client and its on-disk store.
type device struct {
	*client.Client
	store *pebblekv.Store
	home  string
}

func (d *device) close() {
	d.Client.Close()
	d.store.Close()
}

// openDevice opens the device directory under --home.
func openDevice(g *globalFlags, reconnect bool) (*device, error) {
	if err := os.MkdirAll(g.home, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", g.home, err)
	}
	st, err := pebblekv.Open(filepath.Join(g.home, "db"))
	if err != nil {
		if errors.Is(err, pebblekv.ErrLocked) {
			return nil, fmt.Errorf("another parley command is using %s (a running `recv` or `chat`?); stop it first", g.home)
		}
		return nil, err
	}
	c, err := client.New(client.Config{
		Storage:    st,
		Dialer:     client.DialerFunc(dialTCP),
		ServerAddr: g.server,
		Logger:     cliLogger(),
		Reconnect:  reconnect,
	})
	if err != nil {
		st.Close()
		return nil, err
	}
	return &device{Client: c, store: st, home: g.home}, nil
}

func dialTCP(ctx context.Context, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	return d.DialContext(ctx, "tcp", addr)
}

// cliLogger writes warnings to stderr; PARLEY_LOG=debug|info shows more.
func cliLogger() *slog.Logger {
	level := slog.LevelWarn
	switch strings.ToLower(os.Getenv("PARLEY_LOG")) {
	case "debug":
		level = slog.LevelDebug
	case "info":
		level = slog.LevelInfo
	case "error":
		level = slog.LevelError
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// connect connects and words the common failures for people.
func (d *device) connect(ctx context.Context, g *globalFlags) error {
	if err := d.Connect(ctx); err != nil {
		return friendly(err, g)
	}
	return nil
}

// friendly rewrites errors users meet into sentences that say what to do.
func friendly(err error, g *globalFlags) error {
	if err == nil {
		return nil
	}
	var perr *protocol.Error
	switch {
	case errors.Is(err, transport.ErrServerKeyChanged):
		return err // already a full explanation
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("cannot reach a node at %s (is `parley serve` running? set --server or PARLEY_SERVER)", g.server)
	case errors.As(err, &perr):
		switch perr.Code {
		case pb.ErrorCode_HANDLE_TAKEN:
			return fmt.Errorf("handle taken: %s", perr.Reason)
		case pb.ErrorCode_INVITE_REQUIRED:
			return errors.New("invite required: this node only registers with an invite code (--invite CODE; the operator makes one with `parley admin invite`)")
		case pb.ErrorCode_INVALID_INVITE:
			return fmt.Errorf("invalid invite: %s", perr.Reason)
		case pb.ErrorCode_INVALID_HANDLE:
			return fmt.Errorf("invalid handle: %s", perr.Reason)
		case pb.ErrorCode_RATE_LIMITED:
			return fmt.Errorf("the node says slow down: retry in %s", time.Duration(perr.RetryAfterMS)*time.Millisecond)
		case pb.ErrorCode_DISABLED:
			return fmt.Errorf("this account or device was disabled by the operator: %s", perr.Reason)
		}
	}
	return err
}

// parseArgs parses flags that may come before, between or after the
// positional arguments (`send bob hi --wait read`), and returns the
// positionals. "--" ends flag parsing.
// parseExactArgs is parseArgs for commands that take exactly n positional
// arguments: any other count prints the usage and returns errUsage.
func parseExactArgs(fs *flag.FlagSet, args []string, n int) ([]string, error) {
	pos, err := parseArgs(fs, args)
	if err != nil {
		return nil, err
	}
	if len(pos) != n {
		fs.Usage()
		return nil, errUsage
	}
	return pos, nil
}

func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func newFlagSet(name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: parley [--home DIR] [--server HOST:PORT] %s\n", usage)
		fs.PrintDefaults()
	}
	return fs
}

// colour reports whether stdout is a terminal (ANSI colours allowed).
func colour() bool {
	return term.IsTerminal(int(os.Stdout.Fd())) && os.Getenv("NO_COLOR") == ""
}

// ticks renders a status the way chat apps do.
func ticks(s client.Status, ansi bool) string {
	switch s {
	case client.StatusPending:
		return "…"
	case client.StatusSent:
		return "✓"
	case client.StatusDelivered:
		return "✓✓"
	case client.StatusRead:
		if ansi {
			return "\x1b[34m✓✓\x1b[0m"
		}
		return "✓✓ read"
	case client.StatusFailed:
		return "✗ failed"
	}
	return "?"
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "--:--"
	}
	now := time.Now()
	if t.Year() == now.Year() && t.YearDay() == now.YearDay() {
		return t.Local().Format("15:04")
	}
	return t.Local().Format("2006-01-02 15:04")
}

func jsonTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// statusLabel is the ticks followed by the status word ("✓✓ delivered").
func statusLabel(s client.Status, ansi bool) string {
	t := ticks(s, ansi)
	if strings.HasSuffix(t, s.String()) {
		return t
	}
	return t + " " + s.String()
}
