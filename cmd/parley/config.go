package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/parley-im/parley/server"
)

// serveConfig is what `parley serve` runs with: the node's Config plus the
// logging choices that only the binary makes.
type serveConfig struct {
	server.Config
	LogLevel   string
	LogFormat  string
	s3Insecure bool
	// GCPercent and MemoryLimitMB tune the Go collector of the whole
	// process (gctune.go), so they live here rather than in server.Config.
	GCPercent     int
	MemoryLimitMB int
}

// option is one setting, reachable as a TOML key, a flag and an
// environment variable. Precedence: flag > env > file > default.
type option struct {
	key    string // TOML key; "table.key" for keys in a table
	flag   string
	env    string
	field  string // the server.Config field it sets ("" for binary-only)
	help   string
	secret bool
	v      value
}

// value reads and writes one setting as text.
type value interface {
	set(s string) error
	get() string
	isBool() bool
}

type strV struct {
	p     *string
	check func(string) error
}

func (v strV) set(s string) error {
	if v.check != nil {
		if err := v.check(s); err != nil {
			return err
		}
	}
	*v.p = s
	return nil
}
func (v strV) get() string  { return *v.p }
func (v strV) isBool() bool { return false }

type durV struct {
	p        *time.Duration
	negative bool // a negative value means "off" for this one
}

func (v durV) set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("want a duration like 30s, 5m or 720h")
	}
	if d < 0 && !v.negative {
		return fmt.Errorf("must not be negative")
	}
	*v.p = d
	return nil
}
func (v durV) get() string  { return v.p.String() }
func (v durV) isBool() bool { return false }

type intV struct {
	p        *int
	negative bool
}

func (v intV) set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil {
		return fmt.Errorf("want a whole number")
	}
	if n < 0 && !v.negative {
		return fmt.Errorf("must not be negative")
	}
	*v.p = n
	return nil
}
func (v intV) get() string  { return strconv.Itoa(*v.p) }
func (v intV) isBool() bool { return false }

type int64V struct{ p *int64 }

func (v int64V) set(s string) error {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return fmt.Errorf("want a non-negative whole number")
	}
	*v.p = n
	return nil
}
func (v int64V) get() string  { return strconv.FormatInt(*v.p, 10) }
func (v int64V) isBool() bool { return false }

type boolV struct{ p *bool }

func (v boolV) set(s string) error {
	b, err := strconv.ParseBool(s)
	if err != nil {
		return fmt.Errorf("want true or false")
	}
	*v.p = b
	return nil
}
func (v boolV) get() string  { return strconv.FormatBool(*v.p) }
func (v boolV) isBool() bool { return true }

func oneOf(vals ...string) func(string) error {
	return func(s string) error {
		for _, v := range vals {
			if s == v {
				return nil
			}
		}
		return fmt.Errorf("want one of %s", strings.Join(vals, ", "))
	}
}

// options lists every setting of `parley serve`. docs/operations.md and
// deploy/parley.toml document each key (config_test.go checks it).
func options(c *serveConfig) []option {
	o := func(key, flag, env, field, help string, v value) option {
		return option{key: key, flag: flag, env: env, field: field, help: help, v: v}
	}
	secret := func(op option) option { op.secret = true; return op }
	return []option{
		o("data_dir", "data", "PARLEY_DATA", "DataDir", "data directory: store, node key, admin token (default ./parley-data)", strV{p: &c.DataDir}),
		o("listen", "listen", "PARLEY_LISTEN", "Listen", "Noise-over-TCP address (default 127.0.0.1:5222)", strV{p: &c.Listen}),
		o("http", "http", "PARLEY_HTTP", "HTTP", "HTTP address: /ws, /media, /metrics, /healthz, /readyz (default 127.0.0.1:8080)", strV{p: &c.HTTP}),
		o("admin", "admin", "PARLEY_ADMIN", "Admin", "admin API and pprof address; keep private (default 127.0.0.1:8081)", strV{p: &c.Admin}),
		o("registration", "registration", "PARLEY_REGISTRATION", "Registration", "open or invite (default open)", strV{p: &c.Registration, check: oneOf("open", "invite")}),
		o("public_url", "public-url", "PARLEY_PUBLIC_URL", "PublicURL", "how devices reach the HTTP address, for media URLs (default http://HTTP)", strV{p: &c.PublicURL}),
		o("queue_ttl", "queue-ttl", "PARLEY_QUEUE_TTL", "QueueTTL", "how long queued messages wait for offline devices (default 720h)", durV{p: &c.QueueTTL}),
		o("expire_interval", "expire-interval", "PARLEY_EXPIRE_INTERVAL", "ExpireInterval", "how often expired queue entries are deleted (default 1m)", durV{p: &c.ExpireInterval}),
		o("handshake_timeout", "handshake-timeout", "PARLEY_HANDSHAKE_TIMEOUT", "HandshakeTimeout", "bound on the Noise handshake (default 10s)", durV{p: &c.HandshakeTimeout}),
		o("idle_timeout", "idle-timeout", "PARLEY_IDLE_TIMEOUT", "IdleTimeout", "close connections silent this long (default 3m)", durV{p: &c.IdleTimeout}),
		o("idle_release", "idle-release", "PARLEY_IDLE_RELEASE", "IdleRelease", "an idle TCP connection drops its cipher state and hibernates (no goroutine) after this long; negative: never (default 30s)", durV{p: &c.IdleRelease, negative: true}),
		o("write_timeout", "write-timeout", "PARLEY_WRITE_TIMEOUT", "WriteTimeout", "bound on one write to a device (default 15s)", durV{p: &c.WriteTimeout}),
		o("shutdown_timeout", "shutdown-timeout", "PARLEY_SHUTDOWN_TIMEOUT", "ShutdownTimeout", "how long shutdown waits for sessions after Goodbye (default 5s)", durV{p: &c.ShutdownTimeout}),
		o("delivery_window", "delivery-window", "PARLEY_DELIVERY_WINDOW", "DeliveryWindow", "most unacknowledged deliveries per connection (default 256)", intV{p: &c.DeliveryWindow}),
		o("prekey_low_threshold", "prekey-low-threshold", "PARLEY_PREKEY_LOW_THRESHOLD", "PrekeyLowThreshold", "tell a device to refill one-time prekeys below this (default 20)", intV{p: &c.PrekeyLowThreshold}),
		o("fetch_rate", "fetch-rate", "PARLEY_FETCH_RATE", "FetchRate", "prekey bundles one device may fetch per minute (default 120)", intV{p: &c.FetchRate}),
		o("max_connections", "max-connections", "PARLEY_MAX_CONNECTIONS", "MaxConnections", "most open connections; negative: no cap (default 100000)", intV{p: &c.MaxConnections, negative: true}),
		o("send_rate", "send-rate", "PARLEY_SEND_RATE", "SendRate", "sends per device per minute; negative: unlimited (default 3000)", intV{p: &c.SendRate, negative: true}),
		o("send_burst", "send-burst", "PARLEY_SEND_BURST", "SendBurst", "burst of sends per device (default 500)", intV{p: &c.SendBurst}),
		o("register_rate", "register-rate", "PARLEY_REGISTER_RATE", "RegisterRate", "registrations per client IP per minute; negative: unlimited (default 10)", intV{p: &c.RegisterRate, negative: true}),
		o("max_fanout", "max-fanout", "PARLEY_MAX_FANOUT", "MaxFanout", "most target devices per send; negative: store maximum (default 5120: a full 1,024-member group on 5 devices each)", intV{p: &c.MaxFanout, negative: true}),
		o("max_queue", "max-queue", "PARLEY_MAX_QUEUE", "MaxQueue", "most entries waiting for one device; negative: unlimited (default 10000)", intV{p: &c.MaxQueue, negative: true}),
		o("max_companions", "max-companions", "PARLEY_MAX_COMPANIONS", "MaxCompanions", "linked devices per account besides the primary (default 4)", intV{p: &c.MaxCompanions}),
		o("max_group_size", "max-group-size", "PARLEY_MAX_GROUP_SIZE", "MaxGroupSize", "members per group, creator included (default 1024)", intV{p: &c.MaxGroupSize}),
		o("link_code_ttl", "link-code-ttl", "PARLEY_LINK_CODE_TTL", "LinkCodeTTL", "how long a device link code waits for approval (default 10m)", durV{p: &c.LinkCodeTTL}),
		o("media_max_size", "media-max-size", "PARLEY_MEDIA_MAX_SIZE", "MediaMaxSize", "largest media upload in bytes of ciphertext (default 104857600)", int64V{p: &c.MediaMaxSize}),
		o("media_ttl", "media-ttl", "PARLEY_MEDIA_TTL", "MediaTTL", "delete media blobs older than this (default 720h)", durV{p: &c.MediaTTL}),
		o("media_gc_interval", "media-gc-interval", "PARLEY_MEDIA_GC_INTERVAL", "MediaGCInterval", "how often old blobs are collected (default 1h)", durV{p: &c.MediaGCInterval}),
		o("push_url", "push-url", "PARLEY_PUSH_URL", "PushURL", "push gateway webhook; empty: no push", strV{p: &c.PushURL}),
		secret(o("push_secret", "push-secret", "PARLEY_PUSH_SECRET", "PushSecret", "HMAC key of webhook signatures; prefer the env (flags show in ps)", strV{p: &c.PushSecret})),
		o("push_window", "push-window", "PARLEY_PUSH_WINDOW", "PushWindow", "how long push notices gather into one batch (default 500ms)", durV{p: &c.PushWindow}),
		o("s3.endpoint", "s3-endpoint", "PARLEY_S3_ENDPOINT", "S3.Endpoint", "store media in this S3-compatible service, HOST:PORT or URL (default DATA/blobs)", strV{p: &c.S3.Endpoint}),
		o("s3.bucket", "s3-bucket", "PARLEY_S3_BUCKET", "S3.Bucket", "S3 bucket", strV{p: &c.S3.Bucket}),
		o("s3.access_key", "s3-access-key", "PARLEY_S3_ACCESS_KEY", "S3.AccessKey", "S3 access key", strV{p: &c.S3.AccessKey}),
		secret(o("s3.secret_key", "s3-secret-key", "PARLEY_S3_SECRET_KEY", "S3.SecretKey", "S3 secret key; prefer the env (flags show in ps)", strV{p: &c.S3.SecretKey})),
		o("s3.region", "s3-region", "PARLEY_S3_REGION", "S3.Region", "S3 region (default us-east-1)", strV{p: &c.S3.Region}),
		o("s3.prefix", "s3-prefix", "PARLEY_S3_PREFIX", "S3.Prefix", "object name prefix ending in /", strV{p: &c.S3.Prefix}),
		o("s3.insecure", "s3-insecure", "PARLEY_S3_INSECURE", "S3.Secure", "talk plain HTTP to a HOST:PORT endpoint (loopback/testing only)", boolV{p: &c.s3Insecure}),
		o("log_level", "log-level", "PARLEY_LOG_LEVEL", "", "debug, info, warn or error (default info)", strV{p: &c.LogLevel, check: oneOf("debug", "info", "warn", "error")}),
		o("log_format", "log-format", "PARLEY_LOG_FORMAT", "", "text or json (default text)", strV{p: &c.LogFormat, check: oneOf("text", "json")}),
		o("gc_percent", "gc-percent", "PARLEY_GC_PERCENT", "", "Go collector: heap growth over the live heap before a collection, in percent; GOGC wins if set (default 400)", intV{p: &c.GCPercent}),
		o("memory_limit_mb", "memory-limit-mb", "PARLEY_MEMORY_LIMIT_MB", "", "soft limit of the Go heap in MiB, past which the collector works harder; 0: half of physical memory; negative: none; GOMEMLIMIT wins if set (default 0)", intV{p: &c.MemoryLimitMB, negative: true}),
	}
}

// loadServeConfig builds the effective configuration from args, the
// environment (getenv) and the config file named by --config. It also
// returns whether --print-config was given.
func loadServeConfig(args []string, getenv func(string) string, stderr io.Writer) (*serveConfig, bool, error) {
	c := &serveConfig{LogLevel: "info", LogFormat: "text", GCPercent: defaultGCPercent}
	opts := options(c)
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", getenv("PARLEY_CONFIG"), "TOML config file (env PARLEY_CONFIG); flags and env override it")
	printCfg := fs.Bool("print-config", false, "print the effective configuration as TOML (secrets redacted) and exit")
	type setting struct {
		o   *option
		val string
	}
	var fromFlags []setting
	for i := range opts {
		op := &opts[i]
		fs.Var(flagRecorder{op: op, rec: func(v string) { fromFlags = append(fromFlags, setting{op, v}) }}, op.flag, op.help+" (env "+op.env+"; key "+op.key+")")
	}
	if err := fs.Parse(args); err != nil {
		return nil, false, err
	}
	if fs.NArg() > 0 {
		return nil, false, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *path != "" {
		if err := applyFile(*path, opts); err != nil {
			return nil, false, err
		}
	}
	for i := range opts {
		op := &opts[i]
		if v := getenv(op.env); v != "" {
			if err := op.v.set(v); err != nil {
				return nil, false, fmt.Errorf("env %s (key %s) = %q: %w", op.env, op.key, v, err)
			}
		}
	}
	for _, s := range fromFlags {
		if err := s.o.v.set(s.val); err != nil {
			return nil, false, fmt.Errorf("--%s (key %s) = %q: %w", s.o.flag, s.o.key, s.val, err)
		}
	}
	c.S3.Secure, c.S3.PathStyle = !c.s3Insecure, true
	if c.S3.Endpoint != "" && c.S3.Bucket == "" {
		return nil, false, fmt.Errorf("key s3.endpoint needs s3.bucket")
	}
	return c, *printCfg, nil
}

// flagRecorder defers a flag's value until file and env are applied, so a
// flag wins regardless of where --config appears.
type flagRecorder struct {
	op  *option
	rec func(string)
}

func (f flagRecorder) String() string {
	if f.op == nil {
		return ""
	}
	return f.op.v.get()
}
func (f flagRecorder) Set(s string) error { f.rec(s); return nil }
func (f flagRecorder) IsBoolFlag() bool   { return f.op != nil && f.op.v.isBool() }

// applyFile reads a TOML file strictly: an unknown key, a value of the
// wrong type or an invalid value is an error naming the key.
func applyFile(path string, opts []option) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if len(b) > maxConfigSize {
		return fmt.Errorf("config %s: over %d bytes", path, maxConfigSize)
	}
	return applyTOML(path, string(b), opts)
}

// maxConfigSize bounds a config file; a real one is a few KiB.
const maxConfigSize = 1 << 20

// applyTOML is applyFile on the file's text.
func applyTOML(path, text string, opts []option) error {
	raw := map[string]any{}
	if _, err := toml.Decode(text, &raw); err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	byKey := make(map[string]*option, len(opts))
	for i := range opts {
		byKey[opts[i].key] = &opts[i]
	}
	flat := map[string]any{}
	if err := flatten("", raw, flat); err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	keys := make([]string, 0, len(flat))
	for k := range flat {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		op, ok := byKey[k]
		if !ok {
			return fmt.Errorf("config %s: unknown key %q", path, k)
		}
		var s string
		switch v := flat[k].(type) {
		case string:
			s = v
		case int64:
			s = strconv.FormatInt(v, 10)
		case bool:
			s = strconv.FormatBool(v)
		default:
			return fmt.Errorf("config %s: key %s: unsupported value %v (%T)", path, k, v, v)
		}
		if err := op.v.set(s); err != nil {
			return fmt.Errorf("config %s: key %s = %q: %w", path, k, s, err)
		}
	}
	return nil
}

func flatten(prefix string, m map[string]any, out map[string]any) error {
	for k, v := range m {
		key := k
		if prefix != "" {
			key = prefix + "." + k
		}
		if sub, ok := v.(map[string]any); ok {
			if prefix != "" {
				return fmt.Errorf("unknown key %q (tables nest one level)", key)
			}
			if err := flatten(key, sub, out); err != nil {
				return err
			}
			continue
		}
		out[key] = v
	}
	return nil
}

// printConfig writes the effective configuration as TOML, defaults filled
// in by the server and secrets redacted.
func printConfig(w io.Writer, c *serveConfig) error {
	eff, err := c.Config.WithDefaults()
	if err != nil {
		return err
	}
	shown := &serveConfig{Config: eff, LogLevel: c.LogLevel, LogFormat: c.LogFormat, s3Insecure: c.s3Insecure, GCPercent: c.GCPercent, MemoryLimitMB: c.MemoryLimitMB}
	top := map[string]any{}
	for _, op := range options(shown) {
		val := any(op.v.get())
		switch v := op.v.(type) {
		case intV:
			val = *v.p
		case int64V:
			val = *v.p
		case boolV:
			val = *v.p
		}
		if op.secret && op.v.get() != "" {
			val = "REDACTED"
		}
		if table, key, ok := strings.Cut(op.key, "."); ok {
			sub, _ := top[table].(map[string]any)
			if sub == nil {
				sub = map[string]any{}
				top[table] = sub
			}
			sub[key] = val
			continue
		}
		top[op.key] = val
	}
	fmt.Fprintln(w, "# parley serve: effective configuration (secrets redacted)")
	if err := toml.NewEncoder(w).Encode(top); err != nil {
		return fmt.Errorf("print config: %w", err)
	}
	return nil
}
