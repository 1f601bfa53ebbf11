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
	"time"

	"github.com/parley-im/parley/server"
	"github.com/parley-im/parley/server/admin"
)

// runServe runs a node until SIGINT/SIGTERM. It prints the bound
// addresses as "name: value" lines, then "ready", on stdout (logs go to
// stderr), so scripts and end-to-end tests can parse them.
func runServe(ctx context.Context, g *globalFlags, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var cfg server.Config
	fs.StringVar(&cfg.DataDir, "data", envOr("PARLEY_DATA", "./parley-data"), "data directory (env PARLEY_DATA)")
	fs.StringVar(&cfg.Listen, "listen", envOr("PARLEY_LISTEN", "127.0.0.1:5222"), "Noise-over-TCP address (env PARLEY_LISTEN)")
	fs.StringVar(&cfg.HTTP, "http", envOr("PARLEY_HTTP", "127.0.0.1:8080"), "HTTP address: /ws, /healthz, /readyz (env PARLEY_HTTP)")
	fs.StringVar(&cfg.Admin, "admin", envOr("PARLEY_ADMIN", "127.0.0.1:8081"), "admin API address; keep private (env PARLEY_ADMIN)")
	fs.StringVar(&cfg.Registration, "registration", envOr("PARLEY_REGISTRATION", "open"), "open or invite (env PARLEY_REGISTRATION)")
	ttl := fs.String("queue-ttl", envOr("PARLEY_QUEUE_TTL", "720h"), "how long queued messages wait for offline devices (env PARLEY_QUEUE_TTL)")
	fs.StringVar(&cfg.PublicURL, "public-url", os.Getenv("PARLEY_PUBLIC_URL"), "how devices reach the HTTP address, for media URLs (default http://HTTP; env PARLEY_PUBLIC_URL)")
	mediaMax := fs.Int64("media-max-size", 100<<20, "largest media upload in bytes (ciphertext)")
	mediaTTL := fs.Duration("media-ttl", 30*24*time.Hour, "delete media blobs older than this")
	fs.StringVar(&cfg.S3.Endpoint, "s3-endpoint", os.Getenv("PARLEY_S3_ENDPOINT"), "store media in this S3-compatible service, HOST:PORT or URL (default: DATA/blobs; env PARLEY_S3_ENDPOINT)")
	fs.StringVar(&cfg.S3.Bucket, "s3-bucket", os.Getenv("PARLEY_S3_BUCKET"), "S3 bucket (env PARLEY_S3_BUCKET)")
	fs.StringVar(&cfg.S3.AccessKey, "s3-access-key", os.Getenv("PARLEY_S3_ACCESS_KEY"), "S3 access key (env PARLEY_S3_ACCESS_KEY)")
	fs.StringVar(&cfg.S3.SecretKey, "s3-secret-key", "", "S3 secret key; prefer env PARLEY_S3_SECRET_KEY (flags show in ps)")
	fs.StringVar(&cfg.S3.Region, "s3-region", envOr("PARLEY_S3_REGION", "us-east-1"), "S3 region (env PARLEY_S3_REGION)")
	fs.StringVar(&cfg.S3.Prefix, "s3-prefix", os.Getenv("PARLEY_S3_PREFIX"), "object name prefix ending in / (env PARLEY_S3_PREFIX)")
	s3Insecure := fs.Bool("s3-insecure", false, "talk plain HTTP to a HOST:PORT endpoint (loopback/testing only)")
	level := fs.String("log-level", envOr("PARLEY_LOG_LEVEL", "info"), "debug, info, warn or error (env PARLEY_LOG_LEVEL)")
	format := fs.String("log-format", envOr("PARLEY_LOG_FORMAT", "text"), "text or json (env PARLEY_LOG_FORMAT)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var err error
	if cfg.QueueTTL, err = time.ParseDuration(*ttl); err != nil || cfg.QueueTTL <= 0 {
		return fmt.Errorf("--queue-ttl %q: want a positive duration like 720h", *ttl)
	}
	if *mediaMax <= 0 || *mediaTTL <= 0 {
		return fmt.Errorf("--media-max-size and --media-ttl must be positive")
	}
	cfg.MediaMaxSize, cfg.MediaTTL = *mediaMax, *mediaTTL
	if cfg.S3.SecretKey == "" {
		cfg.S3.SecretKey = os.Getenv("PARLEY_S3_SECRET_KEY")
	}
	cfg.S3.Secure, cfg.S3.PathStyle = !*s3Insecure, true
	if cfg.S3.Endpoint != "" && cfg.S3.Bucket == "" {
		return fmt.Errorf("--s3-endpoint needs --s3-bucket")
	}
	if cfg.Logger, err = newLogger(os.Stderr, *level, *format); err != nil {
		return err
	}
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
		fmt.Fprintf(fs.Output(), "usage: parley admin [flags] invite create [--expires D] | invite list | invite revoke CODE | stats\n")
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
