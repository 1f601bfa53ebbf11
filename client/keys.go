package client

import (
	"encoding/binary"
	"encoding/hex"
	"strconv"
)

// Storage key layout. Handles are [a-z0-9_], so "/" never occurs inside
// one and "h/bob/" cannot match "h/bobby/...".
//
//	acct                         Account
//	pin                          ServerPin
//	dev/<user>                   Devices (last known device list)
//	e2e/id/<user>/<dev>          remote identity key (33 bytes)
//	e2e/s/<user>/<dev>           Signal session record
//	e2e/pk/<id>  e2e/spk/<id>  e2e/kpk/<id>   own prekeys (id as 8 hex digits)
//	e2e/sk/<user>/<dev>/<dist>   sender key record
//	h/<peer>/<16 hex digits>     HistoryItem, ordered by local time (ns)
//	mid/<sender user>/<id hex>   history key of a message: index and seen-set
//	in/<16 hex digits>           history key of a received, not yet shown message
var (
	keyAccount   = []byte("acct")
	keyServerPin = []byte("pin")
)

func keyDevices(user string) []byte { return []byte("dev/" + user) }

func keyIdentity(user string, dev uint32) []byte {
	return []byte("e2e/id/" + user + "/" + strconv.FormatUint(uint64(dev), 10))
}

func prefixSessions(user string) []byte { return []byte("e2e/s/" + user + "/") }

func keySession(user string, dev uint32) []byte {
	return append(prefixSessions(user), strconv.FormatUint(uint64(dev), 10)...)
}

func keyPreKey(kind string, id uint32) []byte {
	return []byte("e2e/" + kind + "/" + hex8(id))
}

func keySenderKey(user string, dev uint32, dist [16]byte) []byte {
	return []byte("e2e/sk/" + user + "/" + strconv.FormatUint(uint64(dev), 10) + "/" + hex.EncodeToString(dist[:]))
}

func prefixHistory(peer string) []byte { return []byte("h/" + peer + "/") }

func keyHistory(peer string, ts uint64) []byte {
	return append(prefixHistory(peer), hex16(ts)...)
}

func keyMessageID(sender string, id MessageID) []byte {
	return []byte("mid/" + sender + "/" + id.String())
}

var prefixInbox = []byte("in/")

func keyInbox(ts uint64) []byte { return append(append([]byte(nil), prefixInbox...), hex16(ts)...) }

func hex8(v uint32) string {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], v)
	return hex.EncodeToString(b[:])
}

func hex16(v uint64) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return hex.EncodeToString(b[:])
}
