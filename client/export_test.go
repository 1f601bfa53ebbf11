package client

// SetTestHookBeforeAck installs the simulated-crash hook (tests only).
func SetTestHookBeforeAck(c *Client, f func() error) { c.testHookBeforeAck.Store(&f) }
