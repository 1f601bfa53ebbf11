package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/parley-im/parley/client"
)

const groupUsage = `group create NAME --members USER,USER…
       group add|remove|promote|demote NAME USER…
       group rename NAME NEWNAME
       group leave|info NAME
       group list`

func runGroup(ctx context.Context, g *globalFlags, args []string) error {
	fs := newFlagSet("group", groupUsage)
	members := fs.String("members", "", "create: comma-separated members besides you")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		fs.Usage()
		return errUsage
	}
	sub, rest := pos[0], pos[1:]
	need := map[string]int{"create": 1, "add": 2, "remove": 2, "promote": 2, "demote": 2, "rename": 2, "leave": 1, "info": 1, "list": 0}
	n, ok := need[sub]
	if !ok || len(rest) < n || (sub != "add" && sub != "remove" && sub != "promote" && sub != "demote" && len(rest) != n) {
		fs.Usage()
		return errUsage
	}
	d, err := openDevice(g, false)
	if err != nil {
		return err
	}
	defer d.close()
	go drain(ctx, d.Client)
	if err := d.connect(ctx, g); err != nil {
		return err
	}
	var grp client.Group
	switch sub {
	case "list":
		gs, err := d.Groups(ctx)
		if err != nil {
			return friendly(err, g)
		}
		if len(gs) == 0 {
			fmt.Fprintln(os.Stderr, "no groups yet (parley group create NAME --members …)")
		}
		for _, x := range gs {
			state := ""
			if x.Left {
				state = "  (you left / were removed)"
			}
			fmt.Printf("%-20s %2d members  %s%s\n", x.Name, len(x.Members), x.ID, state)
		}
		return nil
	case "create":
		var ms []string
		for _, m := range strings.Split(*members, ",") {
			if m = strings.TrimSpace(m); m != "" {
				ms = append(ms, m)
			}
		}
		grp, err = d.CreateGroup(ctx, rest[0], ms)
	case "info":
		grp, err = d.GroupInfo(ctx, rest[0])
	default:
		var ch client.GroupChange
		switch sub {
		case "add":
			ch.Add = rest[1:]
		case "remove":
			ch.Remove = rest[1:]
		case "promote":
			ch.Promote = rest[1:]
		case "demote":
			ch.Demote = rest[1:]
		case "rename":
			ch.Rename = rest[1]
		case "leave":
			ch.Leave = true
		}
		grp, err = d.UpdateGroup(ctx, rest[0], ch)
	}
	if err != nil {
		return friendly(err, g)
	}
	printGroup(grp)
	return nil
}

func printGroup(grp client.Group) {
	fmt.Printf("group:    %s\nid:       %s\nversion:  %d\n", grp.Name, grp.ID, grp.Version)
	if !grp.Created.IsZero() {
		fmt.Printf("created:  %s\n", fmtTime(grp.Created))
	}
	if grp.Left {
		fmt.Println("you are no longer a member")
		return
	}
	fmt.Printf("members:  %d\n", len(grp.Members))
	for _, m := range grp.Members {
		role := ""
		if m.Admin {
			role = " (admin)"
		}
		fmt.Printf("  %s%s\n", m.User, role)
	}
}

// groupLine renders a group history item or message for the terminal.
func groupLine(it client.HistoryItem, ansi bool) string {
	name := ""
	if it.Group != nil {
		name = it.Group.Name
	}
	switch {
	case it.Event != nil:
		return fmt.Sprintf("[%s] #%s: %s", fmtTime(it.SentAt), name, it.Event)
	case it.Undecryptable:
		return fmt.Sprintf("[%s] #%s %s: (could not decrypt this message)", fmtTime(it.ReceivedAt), name, it.From)
	case it.Outgoing:
		return fmt.Sprintf("[%s] #%s you: %s  %s", fmtTime(it.SentAt), name, itemText(it), ticks(it.Status, ansi))
	}
	return fmt.Sprintf("[%s] #%s %s: %s", fmtTime(it.SentAt), name, it.From, itemText(it))
}

// itemOf turns a Message event into a history item for printing.
func itemOf(m client.Message) client.HistoryItem {
	return client.HistoryItem{
		ID: m.ID, Peer: m.Peer, Outgoing: m.Outgoing, From: m.From, Text: m.Text, SentAt: m.SentAt,
		ReceivedAt: m.ReceivedAt, Status: client.StatusSent, Undecryptable: m.Undecryptable,
		Attachment: m.Attachment, Group: m.Group, Event: m.Event,
	}
}

// runGroupChat is `chat --group NAME`. Typing notices are not sent in
// groups: each would cost one pairwise Send per member.
func runGroupChat(ctx context.Context, g *globalFlags, name string) error {
	d, err := openDevice(g, true)
	if err != nil {
		return err
	}
	defer d.close()
	if err := d.connect(ctx, g); err != nil {
		return err
	}
	grp, err := d.GroupInfo(ctx, name)
	if err != nil {
		return friendly(err, g)
	}
	ansi := colour()
	items, err := d.GroupHistory(ctx, grp.ID.String(), chatHistory)
	if err != nil {
		return err
	}
	fmt.Printf("── #%s (%d members) ── type a message and Enter; /quit ──\n", grp.Name, len(grp.Members))
	for _, it := range items {
		fmt.Println(groupLine(it, ansi))
		if !it.Outgoing && !it.Read && !it.Undecryptable && it.Event == nil {
			_ = d.MarkRead(ctx, it.From, it.ID)
		}
	}
	clearGroupInbox(ctx, d, grp.ID)
	in := startInput(ctx)
	defer in.close()
	texts := map[client.MessageID]string{}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-in.keys:
		case line, ok := <-in.lines:
			if !ok {
				return nil
			}
			line = strings.TrimSpace(line)
			switch {
			case line == "":
				continue
			case line == "/quit" || line == "/q":
				return nil
			}
			id, err := d.SendGroup(ctx, grp.ID.String(), line)
			showSent(g, texts, id, line, err, ansi)
		case ev := <-d.Events():
			switch ev := ev.(type) {
			case client.Message:
				if ev.Group == nil || ev.Group.ID != grp.ID {
					fmt.Printf("  (new message from %s: parley recv)\n", ev.From)
					continue
				}
				fmt.Println(groupLine(itemOf(ev), ansi))
				if err := d.MarkShown(ctx, ev); err != nil {
					return err
				}
				if !ev.Outgoing && !ev.Undecryptable && ev.Event == nil {
					if err := d.MarkRead(ctx, ev.From, ev.ID); err != nil {
						fmt.Fprintf(os.Stderr, "read receipt: %v\n", err)
					}
				}
			case client.StatusChange:
				if t, ok := texts[ev.ID]; ok && ev.Status > client.StatusSent {
					fmt.Printf("  %s: %s\n", statusLabel(ev.Status, ansi), snippet(t))
				}
			case client.Disconnected:
				if ev.Err != nil {
					fmt.Printf("  (disconnected: %v; reconnecting…)\n", ev.Err)
				}
			}
		}
	}
}

func clearGroupInbox(ctx context.Context, d *device, id client.GroupID) {
	inbox, err := d.Inbox(ctx)
	if err != nil {
		return
	}
	var mine []client.Message
	for _, m := range inbox {
		if m.Group != nil && m.Group.ID == id {
			mine = append(mine, m)
		}
	}
	_ = d.MarkShown(ctx, mine...)
}

// runInfo is `parley info MSGID`: the ticks of one of our messages, per
// member for group messages.
func runInfo(ctx context.Context, g *globalFlags, args []string) error {
	fs := newFlagSet("info", "info MSGID")
	pos, err := parseExactArgs(fs, args, 1)
	if err != nil {
		return err
	}
	id, err := client.ParseMessageID(pos[0])
	if err != nil {
		return err
	}
	d, err := openDevice(g, false)
	if err != nil {
		return err
	}
	defer d.close()
	go drain(ctx, d.Client)
	// Receipts that wait on the node make the answer current.
	if err := d.Connect(ctx); err == nil {
		select {
		case <-time.After(time.Second):
		case <-ctx.Done():
		}
	}
	info, err := d.MessageInfo(ctx, id)
	if errors.Is(err, client.ErrUnknownMessage) {
		return fmt.Errorf("%s is not one of the messages this device sent or synced", id)
	}
	if err != nil {
		return err
	}
	it := info.Item
	to := it.Peer
	if it.Group != nil {
		to = "#" + it.Group.Name
	}
	fmt.Printf("message:  %s\nto:       %s\ntext:     %s\nsent:     %s\nstatus:   %s (%s)\n",
		it.ID, to, itemText(it), fmtTime(it.SentAt), statusLabel(it.Status, colour()), fmtTime(it.StatusAt))
	if len(info.Members) > 0 {
		fmt.Printf("%-16s %-16s %s\n", "member", "delivered", "read")
		for _, m := range info.Members {
			del := fmt.Sprintf("%d/%d devices", m.Delivered, m.Devices)
			if !m.LastAt.IsZero() {
				del = fmtTime(m.LastAt)
			}
			read := "-"
			if !m.ReadAt.IsZero() {
				read = fmtTime(m.ReadAt)
			}
			fmt.Printf("%-16s %-16s %s\n", m.User, del, read)
		}
	}
	return nil
}

// runPrivacy is `parley privacy last-seen everyone|contacts|nobody`.
func runPrivacy(ctx context.Context, g *globalFlags, args []string) error {
	fs := newFlagSet("privacy", "privacy last-seen everyone|contacts|nobody")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 || pos[0] != "last-seen" {
		fs.Usage()
		return errUsage
	}
	p, err := client.ParseLastSeenPrivacy(pos[1])
	if err != nil {
		return err
	}
	d, err := openDevice(g, false)
	if err != nil {
		return err
	}
	defer d.close()
	go drain(ctx, d.Client)
	if err := d.connect(ctx, g); err != nil {
		return err
	}
	if err := d.SetLastSeenPrivacy(ctx, p); err != nil {
		return friendly(err, g)
	}
	fmt.Printf("last seen is now visible to: %s\n", pos[1])
	return nil
}
