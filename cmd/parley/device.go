package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/parley-im/parley/client"
)

func runRegister(ctx context.Context, g *globalFlags, args []string) error {
	fs := newFlagSet("register", "register HANDLE [--invite CODE]")
	invite := fs.String("invite", "", "invite code (nodes in invite mode)")
	pos, err := parseExactArgs(fs, args, 1)
	if err != nil {
		return err
	}
	d, err := openDevice(g, false)
	if err != nil {
		return err
	}
	defer d.close()
	fmt.Fprintf(os.Stderr, "generating keys and registering %s on %s…\n", pos[0], g.server)
	if err := d.Register(ctx, pos[0], *invite); err != nil {
		return friendly(err, g)
	}
	who, err := d.Whoami(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("registered %s (device %d) on %s\n", who.User, who.Device, g.server)
	if who.ServerKey != nil {
		fmt.Printf("node key pinned: %s\n", who.ServerKey)
	}
	fmt.Printf("device data: %s\n", g.home)
	return nil
}

func runSend(ctx context.Context, g *globalFlags, args []string) error {
	fs := newFlagSet("send", "send USER TEXT | send --group NAME TEXT | send (USER | --group NAME) --file PATH [--caption TEXT] [--wait sent|delivered|read] [--timeout D]")
	group := fs.String("group", "", "send TEXT or --file to this group (cli_group.go)")
	file := fs.String("file", "", "send this file (encrypted, uploaded to the node; cli_media.go)")
	caption := fs.String("caption", "", "caption shown with --file")
	wait := fs.String("wait", "sent", "return after this tick: sent (✓), delivered (✓✓) or read")
	timeout := fs.Duration("timeout", time.Minute, "give up waiting for --wait after this long")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if *group != "" {
		pos = append([]string{*group}, pos...) // the group takes the recipient's place
	}
	if len(pos) < 2 && (*file == "" || len(pos) != 1) {
		fs.Usage()
		return errUsage
	}
	want, err := client.ParseStatus(*wait)
	if err != nil || want < client.StatusSent || want > client.StatusRead {
		return fmt.Errorf("--wait %q: want sent, delivered or read", *wait)
	}
	to, text := pos[0], strings.Join(pos[1:], " ")
	d, err := openDevice(g, false)
	if err != nil {
		return err
	}
	defer d.close()
	go drain(ctx, d.Client)
	if err := d.connect(ctx, g); err != nil {
		return err
	}
	id, err := sendTextOrFile(ctx, d, to, *group != "", text, *file, *caption)
	if err != nil {
		return friendly(err, g)
	}
	ansi := colour()
	fmt.Println(statusLabel(client.StatusSent, ansi))
	if *group != "" {
		fmt.Fprintf(os.Stderr, "message id %s (parley info %s)\n", id, id)
	}
	if want == client.StatusSent {
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	for _, st := range []client.Status{client.StatusDelivered, client.StatusRead} {
		if st > want {
			break
		}
		if err := d.WaitStatus(wctx, id, st); err != nil {
			return fmt.Errorf("message %s is stored on the node (✓) but %w", id, err)
		}
		fmt.Println(statusLabel(st, ansi))
	}
	return nil
}

// drain keeps the SDK's event channel flowing for commands that do not
// show events.
func drain(ctx context.Context, c *client.Client) {
	for {
		select {
		case <-c.Events():
		case <-ctx.Done():
			return
		}
	}
}

// historyJSON is one line of `history --json`.
type historyJSON struct {
	ID         string `json:"id"`
	From       string `json:"from"`
	FromDevice uint32 `json:"from_device"`
	To         string `json:"to,omitempty"`
	Text       string `json:"text"`
	SentAt     string `json:"sent_at"`
	ReceivedAt string `json:"received_at"`
	Outgoing   bool   `json:"outgoing"`
	Status     string `json:"status,omitempty"`
	Read       bool   `json:"read,omitempty"`
	Error      string `json:"error,omitempty"`
}

func runHistory(ctx context.Context, g *globalFlags, args []string) error {
	fs := newFlagSet("history", "history USER [--json] [--limit N]")
	asJSON := fs.Bool("json", false, "one JSON object per line")
	limit := fs.Int("limit", 0, "only the last N messages (0: all)")
	pos, err := parseExactArgs(fs, args, 1)
	if err != nil {
		return err
	}
	d, err := openDevice(g, false)
	if err != nil {
		return err
	}
	defer d.close()
	if !d.Registered() {
		return client.ErrNotRegistered
	}
	items, err := d.History(ctx, pos[0], *limit)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(os.Stdout)
	ansi := colour()
	for _, it := range items {
		if *asJSON {
			j := historyJSON{
				ID: it.ID.String(), From: it.From, FromDevice: it.FromDevice, Text: it.Text,
				SentAt: jsonTime(it.SentAt), ReceivedAt: jsonTime(it.ReceivedAt), Outgoing: it.Outgoing,
				Read: it.Read, Error: it.Error,
			}
			if it.Outgoing {
				j.To, j.Status = it.Peer, it.Status.String()
			}
			if err := enc.Encode(j); err != nil {
				return err
			}
			continue
		}
		fmt.Println(historyLine(it, ansi))
	}
	if len(items) == 0 && !*asJSON {
		fmt.Fprintf(os.Stderr, "no messages with %s yet\n", pos[0])
	}
	return nil
}

// historyLine renders one history item for the terminal.
func historyLine(it client.HistoryItem, ansi bool) string {
	switch {
	case it.Undecryptable:
		return fmt.Sprintf("[%s] %s: (could not decrypt: %s)", fmtTime(it.ReceivedAt), it.From, it.Error)
	case it.Outgoing:
		return fmt.Sprintf("[%s] you: %s  %s", fmtTime(it.SentAt), itemText(it), ticks(it.Status, ansi))
	default:
		return fmt.Sprintf("[%s] %s: %s", fmtTime(it.SentAt), it.From, itemText(it))
	}
}

func runSafety(ctx context.Context, g *globalFlags, args []string) error {
	fs := newFlagSet("safety", "safety USER")
	pos, err := parseExactArgs(fs, args, 1)
	if err != nil {
		return err
	}
	d, err := openDevice(g, false)
	if err != nil {
		return err
	}
	defer d.close()
	go drain(ctx, d.Client)
	fp, err := d.SafetyNumber(ctx, pos[0])
	if err != nil && !d.Connected() {
		// No key of the peer known locally: ask the node for one.
		if cerr := d.connect(ctx, g); cerr != nil {
			return cerr
		}
		fp, err = d.SafetyNumber(ctx, pos[0])
	}
	if err != nil {
		return friendly(err, g)
	}
	who, err := d.Whoami(ctx)
	if err != nil {
		return err
	}
	digits := fp.Displayable
	fmt.Printf("Safety number of %s and %s:\n\n", who.User, pos[0])
	for row := 0; row < 3 && len(digits) >= (row+1)*20; row++ {
		line := digits[row*20 : (row+1)*20]
		fmt.Printf("    %s %s %s %s\n", line[0:5], line[5:10], line[10:15], line[15:20])
	}
	fmt.Printf("\nCompare these 60 digits with %s in person or over another channel you trust\n"+
		"(`parley safety %s` on their device shows the same number). If they match,\n"+
		"nobody, not even the node, is in the middle of your conversation. If they\n"+
		"differ, or change later without a reason (new phone, reinstall), do not trust it.\n", pos[0], who.User)
	return nil
}

func runWhoami(ctx context.Context, g *globalFlags, args []string) error {
	fs := newFlagSet("whoami", "whoami")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	d, err := openDevice(g, false)
	if err != nil {
		return err
	}
	defer d.close()
	who, err := d.Whoami(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("user:          %s\n", who.User)
	fmt.Printf("device:        %d\n", who.Device)
	fmt.Printf("device key:    %s\n", who.DeviceKey)
	fmt.Printf("identity key:  %s\n", hex.EncodeToString(who.IdentityKey.Bytes()))
	if who.ServerKey != nil {
		fmt.Printf("node key:      %s (pinned at %s)\n", who.ServerKey, who.ServerAddr)
	} else {
		fmt.Printf("node key:      not pinned yet\n")
	}
	fmt.Printf("home:          %s\n", g.home)
	return nil
}
