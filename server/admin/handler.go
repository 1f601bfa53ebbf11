package admin

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/parley-im/parley/store"
)

// maxBody bounds a request body; admin requests are tiny.
const maxBody = 4 << 10

// Config configures the admin handler.
type Config struct {
	Token   string
	Invites store.Invites
	Stats   func() Stats
	Logger  *slog.Logger
	Now     func() time.Time
	// Operator serves accounts, devices and backups (operator.go); nil
	// answers them with 501.
	Operator Operator
}

// Handler returns the admin API.
func Handler(cfg Config) http.Handler {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	a := &api{cfg: cfg}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/invites", a.createInvite)
	mux.HandleFunc("GET /v1/invites", a.listInvites)
	mux.HandleFunc("DELETE /v1/invites/{code}", a.revokeInvite)
	mux.HandleFunc("GET /v1/stats", a.stats)
	a.registerOperator(mux) // operator.go, and pprof
	return a.auth(mux)
}

type api struct{ cfg Config }

func (a *api) auth(next http.Handler) http.Handler {
	want := []byte("Bearer " + a.cfg.Token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := []byte(r.Header.Get("Authorization"))
		if a.cfg.Token == "" || subtle.ConstantTimeCompare(got, want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="parley-admin"`)
			writeJSON(w, http.StatusUnauthorized, errorBody{"missing or wrong bearer token"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (a *api) createInvite(w http.ResponseWriter, r *http.Request) {
	var req CreateInvite
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if r.ContentLength != 0 {
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			writeJSON(w, http.StatusBadRequest, errorBody{"bad JSON: " + err.Error()})
			return
		}
	}
	now := a.cfg.Now().UTC()
	inv := store.Invite{Code: newCode(), CreatedAt: now}
	if req.ExpiresIn != "" {
		d, err := time.ParseDuration(req.ExpiresIn)
		if err != nil || d <= 0 {
			writeJSON(w, http.StatusBadRequest, errorBody{"expires_in: want a positive Go duration like 72h"})
			return
		}
		inv.ExpiresAt = now.Add(d)
	}
	if err := a.cfg.Invites.CreateInvite(r.Context(), inv); err != nil {
		a.fail(w, "create invite", err)
		return
	}
	writeJSON(w, http.StatusCreated, toInvite(inv))
}

func (a *api) listInvites(w http.ResponseWriter, r *http.Request) {
	invs, err := a.cfg.Invites.Invites(r.Context())
	if err != nil {
		a.fail(w, "list invites", err)
		return
	}
	out := make([]Invite, len(invs))
	for i, inv := range invs {
		out[i] = toInvite(inv)
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *api) revokeInvite(w http.ResponseWriter, r *http.Request) {
	err := a.cfg.Invites.RevokeInvite(r.Context(), r.PathValue("code"))
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInviteInvalid) {
		writeJSON(w, http.StatusNotFound, errorBody{"no such invite"})
		return
	}
	if err != nil {
		a.fail(w, "revoke invite", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *api) stats(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, a.cfg.Stats())
}

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }

func (a *api) fail(w http.ResponseWriter, what string, err error) {
	a.cfg.Logger.Error("admin request failed", "what", what, "err", err)
	writeJSON(w, http.StatusInternalServerError, errorBody{what + " failed"})
}

func toInvite(inv store.Invite) Invite {
	out := Invite{Code: inv.Code, CreatedAt: inv.CreatedAt, UsedBy: inv.UsedBy, Revoked: inv.Revoked}
	if !inv.ExpiresAt.IsZero() {
		t := inv.ExpiresAt
		out.ExpiresAt = &t
	}
	return out
}

// newCode makes a 16-character code (80 random bits) that survives being
// read aloud or typed: upper-case base32, no padding.
func newCode() string {
	b := make([]byte, 10)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return strings.ToUpper(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	// An encoding error means the client went away; nothing is left to do.
	_ = json.NewEncoder(w).Encode(v)
}
