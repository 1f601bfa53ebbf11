package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/parley-im/parley/server"
	"github.com/parley-im/parley/server/admin"
)

// runServe runs a node until SIGINT/SIGTERM, configured by flags > PARLEY_*
// environment > the TOML file of --config (config.go). It prints the bound
// addresses as "name: value" lines, then "ready", on stdout (logs go to
// stderr), so scripts and end-to-end tests can parse them.
func runServe(ctx context.Context, g *globalFlags, args []string) error {
	sc, printOnly, err := loadServeConfig(args, os.Getenv, os.Stderr) // config.go
	if err != nil {
		return err
	}
	if printOnly {
		return printConfig(os.Stdout, sc)
	}
	cfg := sc.Config
	if cfg.Logger, err = newLogger(os.Stderr, sc.LogLevel, sc.LogFormat); err != nil {
		return err
	}
	tuneCollector(sc.GCPercent, sc.MemoryLimitMB, os.Getenv, cfg.Logger) // gctune.go
	n, err := server.New(cfg)
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	select {
	case <-n.Ready():
	case err := <-done:
		return err
	}
	fmt.Printf("server key: %s\ntcp: %s\nhttp: %s\nadmin: %s\nready\n", n.ServerKey(), n.TCPAddr(), n.HTTPAddr(), n.AdminAddr())
	return <-done
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}

// runAdmin talks to a node's admin API:
//
//	parley admin [--data DIR | --token T] [--admin HOST:PORT] invite create [--expires 72h]
//	parley admin ... invite list | invite revoke CODE | stats
func runAdmin(ctx context.Context, g *globalFlags, args []string) error {
	fs := flag.NewFlagSet("admin", flag.ContinueOnError)
	data := fs.String("data", envOr("PARLEY_DATA", "./parley-data"), "the node's data directory: token and address are read from it (env PARLEY_DATA)")
	token := fs.String("token", os.Getenv("PARLEY_ADMIN_TOKEN"), "admin token instead of reading DATA/admin.token (env PARLEY_ADMIN_TOKEN)")
	addr := fs.String("admin", os.Getenv("PARLEY_ADMIN"), "admin API HOST:PORT (default: DATA/admin.addr, else 127.0.0.1:8081; env PARLEY_ADMIN)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: parley admin [flags] invite create [--expires D] | invite list | invite revoke CODE | stats\n"+
			"       | accounts list [--limit N] [--after HANDLE] | accounts show HANDLE | accounts disable|enable|delete HANDLE\n"+
			"       | devices remove HANDLE ID | backup DIR\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	c := &admin.Client{Addr: *addr, Token: *token}
	if c.Token == "" {
		t, err := server.ReadAdminToken(*data)
		if err != nil {
			return fmt.Errorf("no --token and %w", err)
		}
		c.Token = t
	}
	if c.Addr == "" {
		if a, err := server.ReadAdminAddr(*data); err == nil {
			c.Addr = a
		} else {
			c.Addr = "127.0.0.1:8081"
		}
	}
	rest := fs.Args()
	out := json.NewEncoder(os.Stdout)
	out.SetIndent("", "  ")
	switch strings.Join(first(rest, 2), " ") {
	case "invite create":
		cf := flag.NewFlagSet("invite create", flag.ContinueOnError)
		exp := cf.Duration("expires", 0, "expire the code after this long (0: never)")
		if err := cf.Parse(rest[2:]); err != nil {
			return err
		}
		inv, err := c.CreateInvite(ctx, *exp)
		if err != nil {
			return err
		}
		fmt.Println(inv.Code)
		return nil
	case "invite list":
		invs, err := c.Invites(ctx)
		if err != nil {
			return err
		}
		return out.Encode(invs)
	case "invite revoke":
		if len(rest) != 3 {
			fs.Usage()
			return errUsage
		}
		if err := c.RevokeInvite(ctx, rest[2]); err != nil {
			if errors.Is(err, admin.ErrNotFound) {
				return fmt.Errorf("no invite %q", rest[2])
			}
			return err
		}
		return nil
	}
	if handled, err := runAdminAccounts(ctx, c, rest, out); handled { // admin_accounts.go
		if errors.Is(err, errUsage) {
			fs.Usage()
		}
		return err
	}
	if len(rest) == 1 && rest[0] == "stats" {
		s, err := c.Stats(ctx)
		if err != nil {
			return err
		}
		return out.Encode(s)
	}
	fs.Usage()
	return errUsage
}

func first(s []string, n int) []string {
	if len(s) < n {
		return s
	}
	return s[:n]
}
