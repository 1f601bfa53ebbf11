package client

import (
	"context"

	"github.com/parley-im/parley/e2e"
	"github.com/parley-im/parley/protocol/pb"
)

// SetTestHookGroupSend installs a hook that sees every GroupSend (tests
// capture sender-key ciphertexts with it).
func SetTestHookGroupSend(c *Client, f func(*pb.GroupSend)) { c.testHookGroupSend.Store(&f) }

// GroupDecryptForTest tries to decrypt a captured sender-key ciphertext
// with c's stored sender keys, without changing them.
func GroupDecryptForTest(ctx context.Context, c *Client, from string, dev uint32, body []byte) ([]byte, error) {
	return e2e.GroupDecrypt(ctx, newE2EStore(newTxn(c.st), c.identity, 0), e2e.Address{Name: from, DeviceID: dev}, body)
}

// SaveDeviceListsForTest runs lists from "the node" through verification.
func SaveDeviceListsForTest(ctx context.Context, c *Client, lists ...*pb.DeviceList) error {
	return c.saveDeviceLists(ctx, lists)
}
