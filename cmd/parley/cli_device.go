package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"rsc.io/qr"

	"github.com/parley-im/parley/client"
)

const deviceUsage = `device link [--name NAME] [--timeout D]   (on the NEW device, fresh --home)
       device approve CODE [--yes]            (on the primary)
       device list
       device remove ID                       (on the primary)`

func runDevice(ctx context.Context, g *globalFlags, args []string) error {
	fs := newFlagSet("device", deviceUsage)
	host, _ := os.Hostname()
	name := fs.String("name", host, "link: the name the primary sees for this device")
	timeout := fs.Duration("timeout", 10*time.Minute, "link: give up if not approved within this time")
	yes := fs.Bool("yes", false, "approve: do not ask for confirmation")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		fs.Usage()
		return errUsage
	}
	want := map[string]int{"link": 0, "approve": 1, "list": 0, "remove": 1}
	if n, ok := want[pos[0]]; !ok || len(pos)-1 != n {
		fs.Usage()
		return errUsage
	}
	d, err := openDevice(g, false)
	if err != nil {
		return err
	}
	defer d.close()
	go drain(ctx, d.Client)
	if pos[0] == "link" {
		return deviceLink(ctx, g, d, *name, *timeout)
	}
	if err := d.connect(ctx, g); err != nil {
		return err
	}
	switch pos[0] {
	case "approve":
		return deviceApprove(ctx, g, d, pos[1], *yes)
	case "remove":
		id, err := strconv.ParseUint(pos[1], 10, 32)
		if err != nil {
			return fmt.Errorf("device id %q: want a number (parley device list)", pos[1])
		}
		if err := d.RemoveDevice(ctx, uint32(id)); err != nil {
			return friendly(err, g)
		}
		fmt.Printf("device %d removed: it can no longer connect, and nobody encrypts to it any more\n", id)
		return nil
	}
	devs, version, err := d.OwnDevices(ctx)
	if err != nil {
		return friendly(err, g)
	}
	fmt.Printf("signed device list, version %d\n", version)
	fmt.Printf("%-4s %-16s %-17s %s\n", "id", "name", "added", "identity")
	for _, x := range devs {
		mark := ""
		if x.This {
			mark = "  ← this device"
		}
		added := "-"
		if !x.Added.IsZero() {
			added = fmtTime(x.Added)
		}
		name := x.Name
		if name == "" {
			name = "-"
		}
		fmt.Printf("%-4d %-16s %-17s %s%s\n", x.ID, name, added, client.KeyFingerprint(x.IdentityKey), mark)
	}
	return nil
}

func deviceLink(ctx context.Context, g *globalFlags, d *device, name string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	fmt.Fprintf(os.Stderr, "asking %s for a link code…\n", g.server)
	err := d.LinkDevice(ctx, name, func(lc client.LinkCode) {
		fmt.Printf("\nOn your primary device run:\n\n    parley device approve %s\n\n", lc.Code)
		fmt.Printf("Link code:   %s\n", bigCode(lc.Code))
		if !lc.ExpiresAt.IsZero() {
			fmt.Printf("valid until: %s\n", fmtTime(lc.ExpiresAt))
		}
		fmt.Printf("this device's key fingerprint (the primary shows it too; compare!):\n    %s\n\n", lc.Fingerprint)
		if q, err := qr.Encode(lc.Code, qr.M); err == nil {
			fmt.Print(renderQR(q))
		}
		fmt.Println("waiting for approval… (Ctrl-C to give up)")
	})
	if err != nil {
		return friendly(err, g)
	}
	who, err := d.Whoami(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("linked: this device is %s, device %d\n", who.User, who.Device)
	fmt.Println("History from before the link is not copied (only new messages, both directions, reach this device).")
	return nil
}

func deviceApprove(ctx context.Context, g *globalFlags, d *device, code string, yes bool) error {
	req, err := d.LookupLink(ctx, code)
	if err != nil {
		return friendly(err, g)
	}
	fmt.Printf("device %q asks to join your account as device %d\n", req.Name, req.DeviceID)
	fmt.Printf("its key fingerprint: %s\n", req.Fingerprint)
	fmt.Println("It must match what the new device shows. If it does not, someone else is trying to link.")
	if !yes {
		fmt.Print("approve? [y/N] ")
		ans, _ := bufio.NewReader(os.Stdin).ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(ans)); a != "y" && a != "yes" {
			return fmt.Errorf("not approved")
		}
	}
	if err := d.ApproveLink(ctx, req); err != nil {
		return friendly(err, g)
	}
	fmt.Printf("approved: device %d (%s) is linked; your signed device list names it\n", req.DeviceID, req.Name)
	return nil
}

// bigCode spaces the code out and, on terminals, makes it bold.
func bigCode(code string) string {
	s := strings.Join(strings.Split(code, ""), " ")
	if colour() {
		return "\x1b[1m" + s + "\x1b[0m"
	}
	return s
}

// renderQR draws a QR code with Unicode half blocks: two modules per
// character cell, with the 4-module quiet zone scanners need.
func renderQR(q *qr.Code) string {
	const quiet = 4
	var b strings.Builder
	black := func(x, y int) bool { return q.Black(x-quiet, y-quiet) }
	size := q.Size + 2*quiet
	for y := 0; y < size; y += 2 {
		for x := 0; x < size; x++ {
			top, bottom := black(x, y), y+1 < size && black(x, y+1)
			// Light modules are drawn (█), so the code reads on dark
			// terminals too.
			switch {
			case !top && !bottom:
				b.WriteString("█")
			case !top:
				b.WriteString("▀")
			case !bottom:
				b.WriteString("▄")
			default:
				b.WriteString(" ")
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}
