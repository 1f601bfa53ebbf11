package client

import (
	"context"
	"fmt"

	"github.com/parley-im/parley/client/internal/localpb"
	"github.com/parley-im/parley/protocol/pb"
)

// SendGroupFile sends a file to a group (found by name or hex id). The file
// is encrypted and uploaded once, exactly as SendFile does; the one
// Attachment (URL, media key, hashes) then travels inside a single
// sender-key message, like SendGroup's text, to every member device and
// this user's other devices. Every recipient downloads the same blob.
// It returns once the node stored the message (✓).
func (c *Client) SendGroupFile(ctx context.Context, group, path string, opts FileOptions) (MessageID, error) {
	var id MessageID
	if err := checkCaption(opts.Caption); err != nil {
		return id, err
	}
	g, err := c.findGroup(ctx, group)
	if err != nil {
		return id, err
	}
	// Refuse before uploading: a blob nobody can be told about is waste.
	if g.Left {
		return id, fmt.Errorf("%q: %w", g.Name, ErrNotMember)
	}
	a, _, err := c.account()
	if err != nil {
		return id, err
	}
	cn, err := c.current()
	if err != nil {
		return id, err
	}
	att, abs, err := c.uploadAttachment(ctx, cn, path, opts)
	if err != nil {
		return id, err
	}
	if id, err = c.newMessageID(); err != nil {
		return id, err
	}
	now := c.cfg.Now().UnixMilli()
	content := &pb.Content{Body: &pb.Content_Attachment{Attachment: att}, SentAtMs: now, SyncGroupId: g.ID[:]}
	item := &localpb.HistoryItem{
		MessageId: id[:], Peer: a.User, Outgoing: true, From: a.User, FromDevice: a.DeviceId,
		Text: att.Caption, SentAtMs: now, ReceivedAtMs: now, Status: localpb.Status_PENDING, StatusAtMs: now,
		GroupId: g.ID[:], GroupName: g.Name, Attachment: mustMarshal(att), AttachmentPath: abs,
	}
	return id, c.sendGroupContent(ctx, cn, g, id, content, item, false)
}
