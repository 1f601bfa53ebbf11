package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"strconv"

	"github.com/parley-im/parley/server/admin"
)

// runAdminAccounts handles the account, device and backup subcommands of
// `parley admin`; handled is false for anything else.
//
//	accounts list [--limit N] [--after HANDLE] | accounts show HANDLE
//	accounts disable|enable|delete HANDLE | devices remove HANDLE ID | backup DIR
func runAdminAccounts(ctx context.Context, c *admin.Client, rest []string, out *json.Encoder) (handled bool, err error) {
	if len(rest) == 0 {
		return false, nil
	}
	notFound := func(err error, what string) error {
		if errors.Is(err, admin.ErrNotFound) {
			return fmt.Errorf("no %s", what)
		}
		return err
	}
	switch {
	case rest[0] == "backup":
		if len(rest) != 2 {
			return true, errUsage
		}
		dir, err := filepath.Abs(rest[1])
		if err != nil {
			return true, err
		}
		if err := c.Backup(ctx, dir); err != nil {
			return true, err
		}
		fmt.Println(dir)
		return true, nil
	case len(rest) >= 2 && rest[0] == "accounts" && rest[1] == "list":
		fs := flag.NewFlagSet("accounts list", flag.ContinueOnError)
		limit := fs.Int("limit", 100, "most accounts to list (1..1000)")
		after := fs.String("after", "", "list accounts after this handle (paging)")
		if err := fs.Parse(rest[2:]); err != nil {
			return true, err
		}
		as, err := c.Accounts(ctx, *after, *limit)
		if err != nil {
			return true, err
		}
		return true, out.Encode(as)
	case len(rest) == 3 && rest[0] == "accounts":
		h := rest[2]
		switch rest[1] {
		case "show":
			d, err := c.Account(ctx, h)
			if err != nil {
				return true, notFound(err, "account "+h)
			}
			return true, out.Encode(d)
		case "disable", "enable":
			return true, notFound(c.SetDisabled(ctx, h, rest[1] == "disable"), "account "+h)
		case "delete":
			return true, notFound(c.DeleteAccount(ctx, h), "account "+h)
		}
		return true, errUsage
	case len(rest) == 4 && rest[0] == "devices" && rest[1] == "remove":
		id, err := strconv.ParseUint(rest[3], 10, 32)
		if err != nil || id == 0 {
			return true, fmt.Errorf("device id %q: want a positive number", rest[3])
		}
		return true, notFound(c.RemoveDevice(ctx, rest[2], uint32(id)), fmt.Sprintf("device %s.%d", rest[2], id))
	case rest[0] == "accounts" || rest[0] == "devices":
		return true, errUsage
	}
	return false, nil
}
