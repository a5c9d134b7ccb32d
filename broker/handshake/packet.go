package handshake

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// MaxPayload is the largest payload ReadPacket accepts. Connection-phase
// packets are small (a greeting is about 100 bytes, an RSA public key about
// 450); a larger length means the peer does not speak the MySQL protocol.
const MaxPayload = 64 << 10

// maxChunk is the largest payload one physical packet carries; a payload of
// exactly this length continues in the next packet.
const maxChunk = 1<<24 - 1

// ReadPacket reads one logical packet.
//
// https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_basic_packets.html
//
//	int<3> payload_length  little endian; 0xffffff means "continued in the next packet"
//	int<1> sequence_id     incremented per packet, wraps at 255
//	string<var> payload    payload_length bytes
//
// It returns the sequence id of the first physical packet and the joined
// payload. Errors: *FramingError for a header that cannot be MySQL (too
// large, HTTP, TLS) and io.EOF / io.ErrUnexpectedEOF (wrapped in a
// *FramingError) for a peer that closed; other reader errors (deadlines)
// are wrapped as they are.
func ReadPacket(r io.Reader) (seq byte, payload []byte, err error) {
	var hdr [4]byte
	first := true
	for {
		if n, err := io.ReadFull(r, hdr[:]); err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				return 0, nil, fmt.Errorf("read packet header: %w", err)
			}
			if first && n == 0 && err == io.EOF {
				return 0, nil, &FramingError{Reason: "connection closed by peer", Err: io.EOF}
			}
			return 0, nil, &FramingError{Reason: "connection closed in a packet header", Head: append([]byte(nil), hdr[:n]...), Err: io.ErrUnexpectedEOF}
		}
		n := int(hdr[0]) | int(hdr[1])<<8 | int(hdr[2])<<16
		if first {
			seq = hdr[3]
		}
		if len(payload)+n > MaxPayload {
			return 0, nil, &FramingError{Reason: fmt.Sprintf("payload length %d exceeds %d", len(payload)+n, MaxPayload) + notMySQLHint(hdr[:]), Head: append([]byte(nil), hdr[:]...), Err: ErrNotMySQL}
		}
		start := len(payload)
		payload = append(payload, make([]byte, n)...)
		if _, err := io.ReadFull(r, payload[start:]); err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				return 0, nil, fmt.Errorf("read packet payload: %w", err)
			}
			return 0, nil, &FramingError{Reason: fmt.Sprintf("connection closed after %d of %d payload bytes", len(payload[start:]), n), Head: append([]byte(nil), hdr[:]...), Err: io.ErrUnexpectedEOF}
		}
		first = false
		if n < maxChunk {
			return seq, payload, nil
		}
	}
}

// notMySQLHint names a protocol the header bytes look like.
func notMySQLHint(h []byte) string {
	switch {
	case bytes.HasPrefix(h, []byte("HTTP")), bytes.HasPrefix(h, []byte("<!DO")), bytes.HasPrefix(h, []byte("<htm")):
		return " (the peer speaks HTTP)"
	case len(h) >= 3 && (h[0] == 0x15 || h[0] == 0x16) && h[1] == 0x03:
		return " (the peer speaks TLS first)"
	case bytes.HasPrefix(h, []byte("SSH-")):
		return " (the peer speaks SSH)"
	case bytes.HasPrefix(h, []byte("220 ")), bytes.HasPrefix(h, []byte("220-")):
		return " (the peer speaks SMTP/FTP)"
	case bytes.HasPrefix(h, []byte("-ERR")), bytes.HasPrefix(h, []byte("+OK")):
		return " (the peer speaks Redis/POP3)"
	}
	return " (the peer may not speak the MySQL protocol)"
}

// AppendPacket appends payload framed as physical packets starting at
// sequence id seq, and returns the extended buffer and the next sequence id.
// See ReadPacket for the layout.
func AppendPacket(dst []byte, seq byte, payload []byte) ([]byte, byte) {
	for {
		n := min(len(payload), maxChunk)
		dst = append(dst, byte(n), byte(n>>8), byte(n>>16), seq)
		dst = append(dst, payload[:n]...)
		seq++
		payload = payload[n:]
		if n < maxChunk {
			return dst, seq
		}
	}
}

// WritePacket frames payload with sequence id seq and writes it in one call.
// It returns the next sequence id.
func WritePacket(w io.Writer, seq byte, payload []byte) (byte, error) {
	buf, next := AppendPacket(make([]byte, 0, len(payload)+4), seq, payload)
	_, err := w.Write(buf)
	return next, err
}

// reader walks a payload; every read checks bounds and records the first
// failure so parsers stay short and never panic.
type reader struct {
	packet string
	b      []byte
	pos    int
	err    error
}

func (r *reader) fail(reason string) {
	if r.err == nil {
		r.err = &ParseError{Packet: r.packet, Offset: r.pos, Reason: reason}
	}
}

func (r *reader) remaining() int { return len(r.b) - r.pos }

func (r *reader) bytes(n int, what string) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || r.remaining() < n {
		r.fail(fmt.Sprintf("%s: need %d bytes, have %d", what, n, r.remaining()))
		return nil
	}
	v := r.b[r.pos : r.pos+n]
	r.pos += n
	return v
}

func (r *reader) u8(what string) uint8 {
	b := r.bytes(1, what)
	if b == nil {
		return 0
	}
	return b[0]
}

func (r *reader) u16(what string) uint16 {
	b := r.bytes(2, what)
	if b == nil {
		return 0
	}
	return binary.LittleEndian.Uint16(b)
}

func (r *reader) u32(what string) uint32 {
	b := r.bytes(4, what)
	if b == nil {
		return 0
	}
	return binary.LittleEndian.Uint32(b)
}

// nulString reads string<NUL>.
func (r *reader) nulString(what string) string {
	if r.err != nil {
		return ""
	}
	i := bytes.IndexByte(r.b[r.pos:], 0)
	if i < 0 {
		r.fail(what + ": missing NUL terminator")
		return ""
	}
	s := string(r.b[r.pos : r.pos+i])
	r.pos += i + 1
	return s
}

// eofBytes reads string<EOF>: the rest of the payload.
func (r *reader) eofBytes() []byte {
	if r.err != nil {
		return nil
	}
	v := r.b[r.pos:]
	r.pos = len(r.b)
	return v
}

// lenencInt reads int<lenenc>.
//
// https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_basic_dt_integers.html
//
//	< 0xfb      1-byte integer
//	0xfc + 2    2-byte integer
//	0xfd + 3    3-byte integer
//	0xfe + 8    8-byte integer
//	0xfb, 0xff  not an integer here (NULL / ERR)
func (r *reader) lenencInt(what string) uint64 {
	b := r.u8(what)
	switch {
	case r.err != nil:
		return 0
	case b < 0xfb:
		return uint64(b)
	case b == 0xfc:
		return uint64(r.u16(what))
	case b == 0xfd:
		v := r.bytes(3, what)
		if v == nil {
			return 0
		}
		return uint64(v[0]) | uint64(v[1])<<8 | uint64(v[2])<<16
	case b == 0xfe:
		v := r.bytes(8, what)
		if v == nil {
			return 0
		}
		return binary.LittleEndian.Uint64(v)
	}
	r.pos--
	r.fail(fmt.Sprintf("%s: invalid length-encoded integer prefix 0x%02x", what, b))
	return 0
}

// appendLenencInt appends int<lenenc>.
func appendLenencInt(dst []byte, v uint64) []byte {
	switch {
	case v < 0xfb:
		return append(dst, byte(v))
	case v <= 0xffff:
		return append(dst, 0xfc, byte(v), byte(v>>8))
	case v <= 0xffffff:
		return append(dst, 0xfd, byte(v), byte(v>>8), byte(v>>16))
	}
	return binary.LittleEndian.AppendUint64(append(dst, 0xfe), v)
}
