package main

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/server"
)

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "parley.toml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestConfigPrecedence(t *testing.T) {
	file := writeFile(t, "listen = \"10.0.0.1:1\"\nqueue_ttl = \"1h\"\nmax_queue = 7\n[s3]\nregion = \"eu\"\n")
	tests := []struct {
		name       string
		args       []string
		env        map[string]string
		wantListen string
		wantTTL    time.Duration
	}{
		{"file", []string{"--config", file}, nil, "10.0.0.1:1", time.Hour},
		{"env beats file", []string{"--config", file}, map[string]string{"PARLEY_LISTEN": "10.0.0.2:2"}, "10.0.0.2:2", time.Hour},
		{"flag beats env and file", []string{"--listen", "10.0.0.3:3", "--config", file}, map[string]string{"PARLEY_LISTEN": "10.0.0.2:2", "PARLEY_QUEUE_TTL": "2h"}, "10.0.0.3:3", 2 * time.Hour},
		{"config from env", nil, map[string]string{"PARLEY_CONFIG": file}, "10.0.0.1:1", time.Hour},
		{"no file", nil, nil, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, err := loadServeConfig(tt.args, envOf(tt.env), &bytes.Buffer{})
			if err != nil {
				t.Fatal(err)
			}
			if c.Listen != tt.wantListen || c.QueueTTL != tt.wantTTL {
				t.Fatalf("listen %q ttl %v, want %q %v", c.Listen, c.QueueTTL, tt.wantListen, tt.wantTTL)
			}
		})
	}
}

func TestConfigRefusesNamingTheKey(t *testing.T) {
	tests := []struct {
		name, file string
		env        map[string]string
		args       []string
		wantKey    string
	}{
		{name: "unknown key", file: "listen = \"x\"\nlisten_addr = \"y\"\n", wantKey: `"listen_addr"`},
		{name: "unknown table key", file: "[s3]\nbukket = \"b\"\n", wantKey: `"s3.bukket"`},
		{name: "unknown table", file: "[metrics]\nport = 1\n", wantKey: `"metrics.port"`},
		{name: "bad duration", file: "idle_timeout = 5\n", wantKey: "idle_timeout"},
		{name: "bad enum", file: "registration = \"closed\"\n", wantKey: "registration"},
		{name: "negative where not allowed", file: "queue_ttl = \"-1h\"\n", wantKey: "queue_ttl"},
		{name: "bad number", file: "max_queue = \"lots\"\n", wantKey: "max_queue"},
		{name: "bad env", env: map[string]string{"PARLEY_SEND_RATE": "fast"}, wantKey: "PARLEY_SEND_RATE"},
		{name: "bad flag", args: []string{"--log-format", "xml"}, wantKey: "--log-format"},
		{name: "s3 without bucket", file: "[s3]\nendpoint = \"h:1\"\n", wantKey: "s3.bucket"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if tt.file != "" {
				args = append(args, "--config", writeFile(t, tt.file))
			}
			_, _, err := loadServeConfig(args, envOf(tt.env), &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tt.wantKey) {
				t.Fatalf("err = %v, want one naming %s", err, tt.wantKey)
			}
		})
	}
}

func TestPrintConfigRedactsAndRoundTrips(t *testing.T) {
	c, printOnly, err := loadServeConfig([]string{"--print-config", "--push-url", "https://push.example/h"},
		envOf(map[string]string{"PARLEY_PUSH_SECRET": "hunter2-push", "PARLEY_S3_SECRET_KEY": "hunter2-s3"}), &bytes.Buffer{})
	if err != nil || !printOnly {
		t.Fatalf("load: %v, print %v", err, printOnly)
	}
	var out bytes.Buffer
	if err := printConfig(&out, c); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	if strings.Contains(s, "hunter2") {
		t.Fatalf("print-config shows a secret:\n%s", s)
	}
	for _, want := range []string{`push_secret = "REDACTED"`, `queue_ttl = "720h0m0s"`, "max_queue = 10000", `data_dir = "./parley-data"`} {
		if !strings.Contains(s, want) {
			t.Errorf("print-config lacks %s:\n%s", want, s)
		}
	}
	// What it prints is a valid config file (strict keys) for the same node.
	back, _, err := loadServeConfig([]string{"--config", writeFile(t, s)}, envOf(nil), &bytes.Buffer{})
	if err != nil {
		t.Fatalf("print-config output does not load back: %v", err)
	}
	if back.PushURL != "https://push.example/h" || back.MaxQueue != 10000 || back.QueueTTL != 720*time.Hour {
		t.Fatalf("round trip lost values: %+v", back.Config)
	}
}

// The example config and the operations guide cover every key, and every
// server.Config field has a key: adding a field without a key, or a key
// without its documentation, fails here.
func TestEveryKeyDocumented(t *testing.T) {
	var c serveConfig
	opts := options(&c)
	ops, err := os.ReadFile("../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	example := "../../deploy/parley.toml"
	exampleText, err := os.ReadFile(example)
	if err != nil {
		t.Fatal(err)
	}
	covered := map[string]bool{}
	for _, o := range opts {
		if !bytes.Contains(ops, []byte("`"+o.key+"`")) {
			t.Errorf("docs/operations.md does not document key `%s`", o.key)
		}
		if !bytes.Contains(ops, []byte(o.env)) {
			t.Errorf("docs/operations.md does not name env %s", o.env)
		}
		short := o.key[strings.LastIndex(o.key, ".")+1:]
		if !bytes.Contains(exampleText, []byte(short+" ")) {
			t.Errorf("deploy/parley.toml lacks key %s", o.key)
		}
		covered[o.field] = true
	}
	// Fields set by the binary itself or not meant for operators.
	exempt := map[string]bool{"Logger": true, "Now": true, "S3.PathStyle": true, "S3.PartSize": true,
		"S3.CreateBucket": true, "S3.Transport": true, "S3.Logger": true}
	var walk func(prefix string, typ reflect.Type)
	walk = func(prefix string, typ reflect.Type) {
		for i := range typ.NumField() {
			f := typ.Field(i)
			name := prefix + f.Name
			if f.Type.Kind() == reflect.Struct && f.Type.PkgPath() != "time" {
				walk(name+".", f.Type)
				continue
			}
			if !covered[name] && !exempt[name] {
				t.Errorf("server.Config.%s has no config key (add it to options in config.go)", name)
			}
		}
	}
	walk("", reflect.TypeOf(server.Config{}))

	// And the example itself loads strictly and passes the node's checks.
	sc, _, err := loadServeConfig([]string{"--config", example}, envOf(nil), &bytes.Buffer{})
	if err != nil {
		t.Fatalf("deploy/parley.toml: %v", err)
	}
	if _, err := sc.Config.WithDefaults(); err != nil {
		t.Fatalf("deploy/parley.toml refused by the node: %v", err)
	}
}

// FuzzConfigTOML: any text is either refused with an error or applied; the
// decoder never panics.
func FuzzConfigTOML(f *testing.F) {
	seed, _ := os.ReadFile("../../deploy/parley.toml")
	f.Add(string(seed))
	f.Add("listen = 1\n[s3]\n[s3.x]\n")
	f.Add("a.b.c = 1")
	f.Fuzz(func(t *testing.T, text string) {
		var c serveConfig
		_ = applyTOML("fuzz.toml", text, options(&c))
	})
}
