package transport

import "sync"

// Frame buffers come from size-classed pools so a connection only holds
// memory while a frame is in flight, and a 100-byte frame does not pin a
// 64 KiB buffer.
var bufClasses = [...]int{512, 2 << 10, 8 << 10, 32 << 10, maxRecord}

var bufPools [len(bufClasses)]sync.Pool

func init() {
	for i, size := range bufClasses {
		bufPools[i].New = func() any {
			b := make([]byte, size)
			return &b
		}
	}
}

// getBuf returns a pooled buffer of length n; n must not exceed maxRecord.
func getBuf(n int) *[]byte {
	for i, size := range bufClasses {
		if n <= size {
			bp := bufPools[i].Get().(*[]byte)
			*bp = (*bp)[:n]
			return bp
		}
	}
	panic("transport: buffer request above maxRecord") // callers bound n
}

func putBuf(bp *[]byte) {
	c := cap(*bp)
	for i, size := range bufClasses {
		if c == size {
			*bp = (*bp)[:c]
			bufPools[i].Put(bp)
			return
		}
	}
}
