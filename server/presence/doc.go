// Package presence is the node's in-memory presence registry: how many
// authenticated connections each user has, and which connections
// subscribed to whose presence. It decides nothing about privacy and
// stores nothing: the session layer asks it who is online and whom to
// tell, then applies the user's privacy setting and writes last-seen
// times to the store.
//
// It must not hold sessions' state, write to connections, or touch the
// store.
package presence
