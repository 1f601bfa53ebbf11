// Package router maps a device address to the live session that holds the
// device's connection on this node, and nudges it when its queue grew or the
// node has something to tell it. It owns only that map: it never reads or
// writes frames, never touches the store, and never reaches into a session's
// state; a session is a Peer to it, reached through the Peer methods alone.
//
// When the node becomes a cluster (NATS), a router that misses locally will
// publish the nudge on the device's subject instead; callers do not change.
package router
