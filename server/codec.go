package server

import (
	"sync"

	"google.golang.org/grpc/mem"

	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

// wireCache holds the marshalled form of the cached GetConnectionParams
// responses (paramscache.go), keyed by the shared response message: a
// repeat call then sends bytes made once instead of marshalling again.
// Entries are dropped when their response is replaced or the config
// changes; a response without an entry is marshalled as usual.
type wireCache struct{ m sync.Map } // *v1.GetConnectionParamsResponse -> []byte

// cachedCodec is the API's codec (v1.Codec: vtprotobuf's generated
// marshal/unmarshal for the broker's messages, gRPC's proto codec for the
// others) that sends the wireCache's bytes for the responses it holds.
type cachedCodec struct {
	v1.Codec
	wire *wireCache
}

func newCachedCodec(w *wireCache) cachedCodec {
	return cachedCodec{wire: w}
}

// Marshal returns the cached bytes of a cached response, or marshals v.
func (c cachedCodec) Marshal(v any) (mem.BufferSlice, error) {
	if r, ok := v.(*v1.GetConnectionParamsResponse); ok {
		if b, ok := c.wire.m.Load(r); ok {
			return mem.BufferSlice{mem.SliceBuffer(b.([]byte))}, nil
		}
	}
	return c.Codec.Marshal(v)
}
