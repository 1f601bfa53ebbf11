package transport

import "unsafe"

const connSize = unsafe.Sizeof(Conn{})
