package server

import (
	"sync"

	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"

	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

// wireCache holds the marshalled form of the cached GetConnectionParams
// responses (paramscache.go), keyed by the shared response message: a
// repeat call then sends bytes made once instead of marshalling again.
// Entries are dropped when their response is replaced or the config
// changes; a response without an entry is marshalled as usual.
type wireCache struct{ m sync.Map } // *v1.GetConnectionParamsResponse -> []byte

// cachedCodec is gRPC's proto codec that sends the wireCache's bytes for
// the responses it holds.
type cachedCodec struct {
	encoding.CodecV2
	wire *wireCache
}

func newCachedCodec(w *wireCache) cachedCodec {
	return cachedCodec{CodecV2: encoding.GetCodecV2(proto.Name), wire: w}
}

// Marshal returns the cached bytes of a cached response, or marshals v.
func (c cachedCodec) Marshal(v any) (mem.BufferSlice, error) {
	if r, ok := v.(*v1.GetConnectionParamsResponse); ok {
		if b, ok := c.wire.m.Load(r); ok {
			return mem.BufferSlice{mem.SliceBuffer(b.([]byte))}, nil
		}
	}
	return c.CodecV2.Marshal(v)
}
