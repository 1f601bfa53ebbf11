package store

import (
	"context"
	"time"
)

// GroupIDSize is the length of a group id (random, chosen by the node).
const GroupIDSize = 16

// GroupRole is a member's role.
type GroupRole uint8

const (
	RoleMember GroupRole = 1
	RoleAdmin  GroupRole = 2
)

// GroupMember is one member of a group, in join order.
type GroupMember struct {
	User     string
	Role     GroupRole
	JoinedAt time.Time
}

// Group is a group's membership record. Its content never reaches the
// node: the name is the only thing the node knows besides the members.
type Group struct {
	ID        []byte // GroupIDSize bytes
	Name      string
	Members   []GroupMember // join order: the oldest member first
	Version   uint64        // 1 at creation, +1 per change
	CreatedAt time.Time
}

// Groups keeps group records, a per-user index of groups, and writes the
// membership events that tell member devices about a change.
type Groups interface {
	// SaveGroup writes g if the stored version is g.Version-1 (0: the group
	// must not exist), updates the per-user index for members added or
	// removed, and enqueues events, all in one synced batch: a member
	// device sees the event if and only if the change happened, in order
	// with its other entries. The events' Seq fields are set.
	// ErrStaleVersion when another change came first.
	SaveGroup(ctx context.Context, g Group, events []*Entry) error
	// Group returns a group; ErrNotFound for an unknown id.
	Group(ctx context.Context, id []byte) (Group, error)
	// UserGroups lists the ids of the groups a user is a member of.
	UserGroups(ctx context.Context, handle string) ([][]byte, error)
}
