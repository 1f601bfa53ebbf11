package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/pprof"
	"net/url"
	"strconv"
	"time"

	"github.com/parley-im/parley/protocol"
)

// Operator is what the node does for the account, device and backup
// endpoints. Errors wrapping store.ErrNotFound become 404.
type Operator interface {
	ListAccounts(ctx context.Context, after string, limit int) ([]AccountSummary, error)
	ShowAccount(ctx context.Context, handle string) (AccountDetail, error)
	// SetDisabled disables (kicking the account's sessions with
	// Goodbye{DISABLED}) or re-enables an account.
	SetDisabled(ctx context.Context, handle string, disabled bool) error
	RemoveDevice(ctx context.Context, addr protocol.Address) error
	// DeleteAccount ends the account's group memberships, kicks its
	// sessions and deletes it with every device, key and queued entry.
	DeleteAccount(ctx context.Context, handle string) error
	// Backup writes a consistent copy of the store into dir (which must
	// not exist) while the node runs.
	Backup(ctx context.Context, dir string) error
}

// AccountSummary is one row of GET /v1/accounts.
type AccountSummary struct {
	Handle    string    `json:"handle"`
	CreatedAt time.Time `json:"created_at"`
	Disabled  bool      `json:"disabled,omitempty"`
}

// DeviceDetail is one device in GET /v1/accounts/{handle}.
type DeviceDetail struct {
	ID         uint32    `json:"id"`
	CreatedAt  time.Time `json:"created_at"`
	Disabled   bool      `json:"disabled,omitempty"`
	Online     bool      `json:"online"`
	QueueDepth int       `json:"queue_depth"`
	PushToken  bool      `json:"push_token"` // whether one is registered (never the token)
}

// AccountDetail is GET /v1/accounts/{handle}.
type AccountDetail struct {
	AccountSummary
	Devices []DeviceDetail `json:"devices"`
}

// Backup is the body of POST /v1/backup.
type Backup struct {
	Dir string `json:"dir"`
}

// errNoOperator answers account endpoints of a handler built without one.
var errNoOperator = errors.New("admin: account operations not available")

func (a *api) registerOperator(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/accounts", a.listAccounts)
	mux.HandleFunc("GET /v1/accounts/{handle}", a.showAccount)
	mux.HandleFunc("POST /v1/accounts/{handle}/disable", a.setDisabled(true))
	mux.HandleFunc("POST /v1/accounts/{handle}/enable", a.setDisabled(false))
	mux.HandleFunc("DELETE /v1/accounts/{handle}", a.deleteAccount)
	mux.HandleFunc("DELETE /v1/accounts/{handle}/devices/{id}", a.removeDevice)
	mux.HandleFunc("POST /v1/backup", a.backup)
	// pprof only here, behind the token: never on the public listener.
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
}

func (a *api) op(w http.ResponseWriter) Operator {
	if a.cfg.Operator == nil {
		writeJSON(w, http.StatusNotImplemented, errorBody{errNoOperator.Error()})
	}
	return a.cfg.Operator
}

func (a *api) opFail(w http.ResponseWriter, what string, err error) {
	if isNotFound(err) {
		writeJSON(w, http.StatusNotFound, errorBody{"not found"})
		return
	}
	a.fail(w, what, err)
}

func (a *api) listAccounts(w http.ResponseWriter, r *http.Request) {
	op := a.op(w)
	if op == nil {
		return
	}
	limit := 100
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 || n > 1000 {
			writeJSON(w, http.StatusBadRequest, errorBody{"limit: want 1..1000"})
			return
		}
		limit = n
	}
	out, err := op.ListAccounts(r.Context(), r.URL.Query().Get("after"), limit)
	if err != nil {
		a.opFail(w, "list accounts", err)
		return
	}
	if out == nil {
		out = []AccountSummary{}
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *api) showAccount(w http.ResponseWriter, r *http.Request) {
	op := a.op(w)
	if op == nil {
		return
	}
	d, err := op.ShowAccount(r.Context(), r.PathValue("handle"))
	if err != nil {
		a.opFail(w, "show account", err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (a *api) setDisabled(disabled bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		op := a.op(w)
		if op == nil {
			return
		}
		if err := op.SetDisabled(r.Context(), r.PathValue("handle"), disabled); err != nil {
			a.opFail(w, "disable account", err)
			return
		}
		a.cfg.Logger.Info("account changed by operator", "handle", r.PathValue("handle"), "disabled", disabled)
		w.WriteHeader(http.StatusNoContent)
	}
}

func (a *api) deleteAccount(w http.ResponseWriter, r *http.Request) {
	op := a.op(w)
	if op == nil {
		return
	}
	if err := op.DeleteAccount(r.Context(), r.PathValue("handle")); err != nil {
		a.opFail(w, "delete account", err)
		return
	}
	a.cfg.Logger.Info("account deleted by operator", "handle", r.PathValue("handle"))
	w.WriteHeader(http.StatusNoContent)
}

func (a *api) removeDevice(w http.ResponseWriter, r *http.Request) {
	op := a.op(w)
	if op == nil {
		return
	}
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 32)
	if err != nil || id == 0 {
		writeJSON(w, http.StatusBadRequest, errorBody{"device id: want a positive number"})
		return
	}
	addr := protocol.Address{User: r.PathValue("handle"), Device: uint32(id)}
	if err := op.RemoveDevice(r.Context(), addr); err != nil {
		a.opFail(w, "remove device", err)
		return
	}
	a.cfg.Logger.Info("device removed by operator", "device", addr.String())
	w.WriteHeader(http.StatusNoContent)
}

func (a *api) backup(w http.ResponseWriter, r *http.Request) {
	op := a.op(w)
	if op == nil {
		return
	}
	var req Backup
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Dir == "" {
		writeJSON(w, http.StatusBadRequest, errorBody{`want {"dir": "/absolute/path/that/does/not/exist"}`})
		return
	}
	if err := op.Backup(r.Context(), req.Dir); err != nil {
		a.cfg.Logger.Error("backup failed", "dir", req.Dir, "err", err)
		writeJSON(w, http.StatusInternalServerError, errorBody{"backup failed: " + err.Error()})
		return
	}
	a.cfg.Logger.Info("backup written", "dir", req.Dir)
	writeJSON(w, http.StatusOK, req)
}

// Accounts lists up to limit accounts after the given handle ("" = start).
func (c *Client) Accounts(ctx context.Context, after string, limit int) ([]AccountSummary, error) {
	q := url.Values{}
	if after != "" {
		q.Set("after", after)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var out []AccountSummary
	err := c.do(ctx, http.MethodGet, "/v1/accounts?"+q.Encode(), nil, &out)
	return out, err
}

// Account shows one account with its devices; ErrNotFound if unknown.
func (c *Client) Account(ctx context.Context, handle string) (AccountDetail, error) {
	var out AccountDetail
	err := c.do(ctx, http.MethodGet, "/v1/accounts/"+url.PathEscape(handle), nil, &out)
	return out, err
}

// SetDisabled disables or re-enables an account.
func (c *Client) SetDisabled(ctx context.Context, handle string, disabled bool) error {
	verb := "enable"
	if disabled {
		verb = "disable"
	}
	return c.do(ctx, http.MethodPost, "/v1/accounts/"+url.PathEscape(handle)+"/"+verb, nil, nil)
}

// DeleteAccount deletes an account and everything queued for it.
func (c *Client) DeleteAccount(ctx context.Context, handle string) error {
	return c.do(ctx, http.MethodDelete, "/v1/accounts/"+url.PathEscape(handle), nil, nil)
}

// RemoveDevice removes one device of an account.
func (c *Client) RemoveDevice(ctx context.Context, handle string, id uint32) error {
	return c.do(ctx, http.MethodDelete, fmt.Sprintf("/v1/accounts/%s/devices/%d", url.PathEscape(handle), id), nil, nil)
}

// Backup asks the node to write a consistent copy of its store into dir,
// a path on the node's machine that must not exist yet.
func (c *Client) Backup(ctx context.Context, dir string) error {
	return c.do(ctx, http.MethodPost, "/v1/backup", Backup{Dir: dir}, nil)
}
