package client

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/parley-im/parley/protocol"
	"github.com/parley-im/parley/protocol/pb"
	"github.com/parley-im/parley/transport"
)

// Connect opens the connection to the node. With Config.Reconnect the SDK
// keeps it up until Close; otherwise a drop is reported as Disconnected
// and the application calls Connect again when it wants.
func (c *Client) Connect(ctx context.Context) error {
	if _, _, err := c.account(); err != nil {
		return err
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	if c.conn != nil {
		c.mu.Unlock()
		if c.cfg.Reconnect {
			c.startSupervisor()
		}
		return nil
	}
	c.mu.Unlock()
	if err := c.connectOnce(ctx); err != nil {
		return err
	}
	if c.cfg.Reconnect {
		c.startSupervisor()
	}
	return nil
}

func (c *Client) connectOnce(ctx context.Context) error {
	a, _, err := c.account()
	if err != nil {
		return err
	}
	cn, err := c.dial(ctx)
	if err != nil {
		return err
	}
	w := cn.welcome
	if !w.GetRegistered() {
		cn.tc.Close()
		return ErrDeviceUnknown
	}
	if w.GetUser() != a.User || w.GetDeviceId() != a.DeviceId {
		cn.tc.Close()
		return fmt.Errorf("the node knows this device as %s.%d, local state says %s.%d: %w",
			w.GetUser(), w.GetDeviceId(), a.User, a.DeviceId, ErrDeviceUnknown)
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		cn.tc.Close()
		return ErrClosed
	}
	c.conn = cn
	c.mu.Unlock()
	cn.start()
	c.kickOutbox() // messages that did not reach the node last time (outbox.go)
	c.log.Info("connected", "addr", c.cfg.ServerAddr, "user", a.User, "device", a.DeviceId)
	c.emit(Connected{User: a.User, Device: a.DeviceId})
	return nil
}

// current returns the live connection.
func (c *Client) current() (*conn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	if c.conn == nil {
		return nil, ErrNotConnected
	}
	return c.conn, nil
}

// Connected reports whether a connection is up.
func (c *Client) Connected() bool {
	_, err := c.current()
	return err == nil
}

// connLost runs once per connection when it ends.
func (c *Client) connLost(cn *conn, err error) {
	c.mu.Lock()
	if c.conn != cn {
		c.mu.Unlock()
		return // a connection that was never installed (Register, failed start)
	}
	c.conn = nil
	closed := c.closed
	c.mu.Unlock()
	select {
	case c.lost <- struct{}{}:
	default:
	}
	if closed {
		err = nil
	}
	c.log.Info("disconnected", "err", err)
	go c.emit(Disconnected{Err: err})
}

// permanent reports errors that reconnecting cannot fix.
func permanent(err error) bool {
	switch {
	case errors.Is(err, transport.ErrServerKeyChanged), errors.Is(err, ErrDeviceUnknown),
		errors.Is(err, ErrNotRegistered), errors.Is(err, ErrClosed):
		return true
	}
	return protocol.CodeOf(err) == pb.ErrorCode_DISABLED
}

// startSupervisor keeps reconnecting with jittered exponential backoff.
func (c *Client) startSupervisor() {
	c.mu.Lock()
	if c.supervising {
		c.mu.Unlock()
		return
	}
	c.supervising = true
	c.mu.Unlock()
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		for {
			select {
			case <-c.done:
				return
			case <-c.lost:
			}
			backoff := 250 * time.Millisecond
			for !c.Connected() {
				select {
				case <-c.done:
					return
				case <-time.After(backoff/2 + rand.N(backoff/2+1)):
				}
				ctx, cancel := context.WithTimeout(context.Background(), c.cfg.RequestTimeout)
				err := c.connectOnce(ctx)
				cancel()
				switch {
				case err == nil:
				case permanent(err):
					c.log.Error("giving up reconnecting", "err", err)
					c.emit(Disconnected{Err: err})
					return
				default:
					c.log.Info("reconnect failed", "err", err, "retry_in", backoff)
					backoff = min(backoff*2, 30*time.Second)
				}
			}
		}
	}()
}
