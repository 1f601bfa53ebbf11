package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/protocol"
)

// chatHistory is how many past messages `chat` shows on start.
const chatHistory = 20

func runChat(ctx context.Context, g *globalFlags, args []string) error {
	fs := newFlagSet("chat", "chat USER | chat --group NAME")
	group := fs.String("group", "", "chat in this group (cli_group.go)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if *group != "" && len(pos) == 0 {
		return runGroupChat(ctx, g, *group)
	}
	if len(pos) != 1 {
		fs.Usage()
		return errUsage
	}
	peer := pos[0]
	if err := protocol.ValidateHandle(peer); err != nil {
		return err
	}
	d, err := openDevice(g, true)
	if err != nil {
		return err
	}
	defer d.close()
	if err := d.connect(ctx, g); err != nil {
		return err
	}
	ansi := colour()
	items, err := d.History(ctx, peer, chatHistory)
	if err != nil {
		return err
	}
	fmt.Printf("── chat with %s ── type a message and Enter; /save N [DIR], /open N, /quit ──\n", peer)
	var unread []client.MessageID
	var files attachments // cli_media.go
	for _, it := range items {
		fmt.Println(files.add(it) + historyLine(it, ansi))
		if !it.Outgoing && !it.Read && !it.Undecryptable {
			unread = append(unread, it.ID)
		}
	}
	if err := markSeen(ctx, d, peer, unread); err != nil { // also clears this chat's inbox
		fmt.Fprintf(os.Stderr, "read receipts: %v\n", err)
	}

	// Lines typed by the user, and keystrokes for typing notices
	// (cli_tty.go); presence of the peer while the chat is open.
	in := startInput(ctx)
	defer in.close()
	lines := in.lines
	typing := &typingNotifier{d: d, peer: peer}
	lastPresence := ""
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	if err := d.SubscribePresence(ctx, peer); err != nil {
		fmt.Fprintf(os.Stderr, "presence: %v\n", err)
	}
	// What each of our message ids said, to show which message got a tick.
	texts := map[client.MessageID]string{}
	for _, it := range items {
		if it.Outgoing {
			texts[it.ID] = it.Text
		}
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-in.keys:
			typing.key(ctx)
		case <-tick.C:
			typing.tick(ctx)
		case line, ok := <-lines:
			if !ok {
				return nil
			}
			typing.sent()
			line = strings.TrimSpace(line)
			switch {
			case line == "":
				continue
			case line == "/quit" || line == "/q":
				return nil
			case files.command(ctx, d, line):
				continue
			case strings.HasPrefix(line, "/"):
				fmt.Println("commands: /save N [DIR], /open N, /quit")
				continue
			}
			id, err := d.Send(ctx, peer, line)
			showSent(g, texts, id, line, err, ansi)
		case ev := <-d.Events():
			switch ev := ev.(type) {
			case client.Message:
				if ev.Peer != peer {
					fmt.Printf("  (new message from %s: parley recv, or parley chat %s)\n", ev.Peer, ev.Peer)
					continue
				}
				it := client.HistoryItem{
					ID: ev.ID, Peer: ev.Peer, Outgoing: ev.Outgoing, From: ev.From, Text: ev.Text,
					SentAt: ev.SentAt, ReceivedAt: ev.ReceivedAt, Status: client.StatusSent, Undecryptable: ev.Undecryptable,
					Attachment: ev.Attachment,
				}
				fmt.Println(files.add(it) + historyLine(it, ansi))
				if ev.Outgoing {
					texts[ev.ID] = ev.Text
				}
				if err := d.MarkShown(ctx, ev); err != nil {
					return err
				}
				if !ev.Outgoing && !ev.Undecryptable {
					if err := d.MarkRead(ctx, peer, ev.ID); err != nil {
						fmt.Fprintf(os.Stderr, "read receipt: %v\n", err)
					}
				}
			case client.StatusChange:
				if ev.Peer == peer && ev.Status > client.StatusSent {
					fmt.Printf("  %s: %s\n", statusLabel(ev.Status, ansi), snippet(texts[ev.ID]))
				}
			case client.Presence:
				if l := presenceLine(ev); ev.User == peer && l != lastPresence {
					lastPresence = l
					fmt.Printf("  (%s)\n", l)
				}
			case client.Typing:
				if ev.User == peer && ev.Composing {
					fmt.Printf("  %s is typing…\n", peer)
				}
			case client.Connected:
				_ = d.SubscribePresence(ctx, peer) // subscriptions die with the connection
			case client.IdentityChanged:
				fmt.Printf("  ! the safety number with %s changed; compare it: parley safety %s\n", ev.User, ev.User)
			case client.Disconnected:
				if ev.Err != nil {
					fmt.Printf("  (disconnected: %v; reconnecting…)\n", ev.Err)
				}
			}
		}
	}
}

// markSeen sends read receipts for what the screen shows and clears those
// messages from the inbox.
func markSeen(ctx context.Context, d *device, peer string, ids []client.MessageID) error {
	if len(ids) > 0 {
		if err := d.MarkRead(ctx, peer, ids...); err != nil {
			return err
		}
	}
	inbox, err := d.Inbox(ctx)
	if err != nil {
		return err
	}
	var mine []client.Message
	for _, m := range inbox {
		if m.Peer == peer {
			mine = append(mine, m)
		}
	}
	return d.MarkShown(ctx, mine...)
}

// showSent prints a line a chat just sent: ✓ once the node has it, pending
// when it is kept on the device to go again (client.ErrSendPending), or
// why it was not sent. Sent and pending lines are remembered in texts for
// their later ticks.
func showSent(g *globalFlags, texts map[client.MessageID]string, id client.MessageID, line string, err error, ansi bool) {
	switch {
	case errors.Is(err, client.ErrSendPending):
		texts[id] = line
		fmt.Printf("  %s: %s (goes when the connection is back)\n", statusLabel(client.StatusPending, ansi), snippet(line))
	case err != nil:
		fmt.Fprintf(os.Stderr, "not sent: %v\n", friendly(err, g))
	default:
		texts[id] = line
		fmt.Printf("  %s: %s\n", statusLabel(client.StatusSent, ansi), snippet(line))
	}
}

func snippet(s string) string {
	if s == "" {
		return "(earlier message)"
	}
	r := []rune(s)
	if len(r) > 40 {
		return "«" + string(r[:39]) + "…»"
	}
	return "«" + s + "»"
}
