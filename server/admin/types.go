package admin

import "time"

// Invite is an invite code as the API shows it.
type Invite struct {
	Code      string     `json:"code"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	UsedBy    string     `json:"used_by,omitempty"`
	Revoked   bool       `json:"revoked,omitempty"`
}

// CreateInvite is the body of POST /v1/invites. ExpiresIn is a Go
// duration ("72h"); empty means the code never expires.
type CreateInvite struct {
	ExpiresIn string `json:"expires_in,omitempty"`
}

// Stats is GET /v1/stats.
type Stats struct {
	Connections      int64  `json:"connections"`      // open connections, handshaken or not
	Sessions         int64  `json:"sessions"`         // authenticated sessions
	Handshakes       uint64 `json:"handshakes"`       // completed since start
	HandshakeErrors  uint64 `json:"handshake_errors"` // failed since start
	PanicsRecovered  uint64 `json:"panics_recovered"` // session panics since start
	QueueExpired     uint64 `json:"queue_expired"`    // entries deleted by expiry since start
	UptimeSeconds    int64  `json:"uptime_seconds"`
	RegistrationMode string `json:"registration_mode"`
}

type errorBody struct {
	Error string `json:"error"`
}
