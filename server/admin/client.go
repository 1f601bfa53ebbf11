package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// Client talks to a node's admin API.
type Client struct {
	// Addr is the admin listener, "HOST:PORT".
	Addr  string
	Token string
	// HTTP defaults to a client with a 10 s timeout.
	HTTP *http.Client
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("admin: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+c.Addr+path, body)
	if err != nil {
		return fmt.Errorf("admin: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("admin: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("admin: %s %s: %w", method, path, err)
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		return ErrUnauthorized
	case resp.StatusCode == http.StatusNotFound:
		return ErrNotFound
	case resp.StatusCode >= 300:
		var e errorBody
		_ = json.Unmarshal(raw, &e)
		return fmt.Errorf("admin: %s %s: %s: %s", method, path, resp.Status, e.Error)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("admin: %s %s: decode: %w", method, path, err)
		}
	}
	return nil
}

// CreateInvite makes a new invite code; expiresIn 0 means it never expires.
func (c *Client) CreateInvite(ctx context.Context, expiresIn time.Duration) (Invite, error) {
	var req CreateInvite
	if expiresIn > 0 {
		req.ExpiresIn = expiresIn.String()
	}
	var inv Invite
	err := c.do(ctx, http.MethodPost, "/v1/invites", req, &inv)
	return inv, err
}

// Invites lists every invite.
func (c *Client) Invites(ctx context.Context) ([]Invite, error) {
	var out []Invite
	err := c.do(ctx, http.MethodGet, "/v1/invites", nil, &out)
	return out, err
}

// RevokeInvite revokes a code; ErrNotFound if it does not exist.
func (c *Client) RevokeInvite(ctx context.Context, code string) error {
	return c.do(ctx, http.MethodDelete, "/v1/invites/"+url.PathEscape(code), nil, nil)
}

// Stats reads the node's figures.
func (c *Client) Stats(ctx context.Context) (Stats, error) {
	var s Stats
	err := c.do(ctx, http.MethodGet, "/v1/stats", nil, &s)
	return s, err
}
