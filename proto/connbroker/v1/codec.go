package connbrokerv1

import (
	"fmt"

	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
)

// vtMessage is what protoc-gen-go-vtproto generates for every message of
// this package (broker_vtproto.pb.go): size, marshal and unmarshal without
// protobuf reflection.
type vtMessage interface {
	SizeVT() int
	MarshalToSizedBufferVT(dAtA []byte) (int, error)
	UnmarshalVTUnsafe(dAtA []byte) error
	Reset()
}

// Codec is gRPC's "proto" codec with a fast path for this package's
// messages: they are sized, marshalled and unmarshalled by the generated
// vtprotobuf code (no reflection, no per-field dispatch); any other message
// (health, reflection, error details) goes through gRPC's own proto codec.
// The wire format is the same, so a peer with the standard codec reads it.
// Use it on a client with grpc.WithDefaultCallOptions(grpc.ForceCodecV2(Codec{}))
// and on a server with grpc.ForceServerCodecV2(Codec{}).
type Codec struct{}

var _ encoding.CodecV2 = Codec{}

var stdCodec = encoding.GetCodecV2(grpcproto.Name)

// Name is "proto", the content subtype of gRPC's standard codec.
func (Codec) Name() string { return grpcproto.Name }

// Marshal encodes v, into a pooled buffer when it is large enough for
// gRPC's buffer pool.
func (Codec) Marshal(v any) (mem.BufferSlice, error) {
	m, ok := v.(vtMessage)
	if !ok {
		return stdCodec.Marshal(v)
	}
	size := m.SizeVT()
	if mem.IsBelowBufferPoolingThreshold(size) {
		buf := make([]byte, size)
		if _, err := m.MarshalToSizedBufferVT(buf); err != nil {
			return nil, fmt.Errorf("marshal %T: %w", v, err)
		}
		return mem.BufferSlice{mem.SliceBuffer(buf)}, nil
	}
	pool := mem.DefaultBufferPool()
	buf := pool.Get(size)
	if _, err := m.MarshalToSizedBufferVT(*buf); err != nil {
		pool.Put(buf)
		return nil, fmt.Errorf("marshal %T: %w", v, err)
	}
	return mem.BufferSlice{mem.NewBuffer(buf, pool)}, nil
}

// Unmarshal decodes data into v (reset first, as proto.Unmarshal does).
// data is gRPC's pooled buffer, reused after the call, so it is copied
// once into a buffer of v's own, and v's strings and bytes are views into
// that copy (vtprotobuf's UnmarshalVTUnsafe): one allocation for all of
// them instead of one per field. The copy lives as long as any of them.
func (Codec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(vtMessage)
	if !ok {
		return stdCodec.Unmarshal(data, v)
	}
	m.Reset()
	b := data.Materialize()
	if r, ok := v.(*GetConnectionParamsResponse); ok {
		layOut(r, b) // its messages in one allocation (arena.go)
	}
	if err := m.UnmarshalVTUnsafe(b); err != nil {
		return err
	}
	clipBytes(v)
	return nil
}

// clipBytes caps the bytes fields of a decoded message at their length.
// They view the codec's copy of the buffer, as its strings do, and without
// the cap an append to one would write over the bytes that the next
// fields' strings view. These are every bytes field of the API and every
// message that reaches one (TestCodecBytesFieldsClipped keeps the list
// whole).
func clipBytes(v any) {
	switch m := v.(type) {
	case *GetConnectionParamsRequest:
		m.KnownCaSha256 = clip(m.KnownCaSha256)
		m.KnownViewSha256 = clip(m.KnownViewSha256)
	case *GetConnectionParamsResponse:
		clipParams(m.Params)
	case *WatchConnectionParamsResponse:
		clipParams(m.Params)
	case *PreflightRequest:
		for _, c := range m.Changes {
			clipBytes(c)
		}
	case *PreflightChange:
		if m != nil {
			m.CaPem = clip(m.CaPem)
		}
	}
}

func clipParams(p *ConnectionParams) {
	if p != nil {
		p.ViewSha256 = clip(p.ViewSha256)
	}
	if p != nil && p.Tls != nil {
		p.Tls.CaSha256 = clip(p.Tls.CaSha256)
	}
}

func clip(b []byte) []byte { return b[:len(b):len(b)] }
