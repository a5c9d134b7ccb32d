package handshake_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/connbroker/connbroker/broker/handshake"
)

// addSeeds adds every golden packet in testdata/ plus extra seeds.
func addSeeds(f *testing.F, extra ...[]byte) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.bin"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no seeds in testdata: %v", err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, b := range extra {
		f.Add(b)
	}
}

func FuzzParseGreeting(f *testing.F) {
	addSeeds(f, []byte{10, 0}, []byte{10, 'x', 0, 1, 2, 3, 4, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0x82})
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := handshake.ParseGreeting(b)
		if err != nil {
			if g != nil {
				t.Fatal("greeting and error")
			}
			return
		}
		if g.ProtocolVersion != 10 || len(g.AuthPluginData) > len(b) || len(g.ServerVersion) > len(b) {
			t.Fatalf("implausible greeting %+v from %d bytes", g, len(b))
		}
	})
}

func FuzzParseAuthSwitch(f *testing.F) {
	addSeeds(f, []byte{0xfe}, []byte{0xfe, 0}, []byte{0xfe, 'a', 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := handshake.ParseAuthSwitchRequest(b)
		if err == nil && (r.PluginName == "" || len(r.PluginData) >= len(b)) {
			t.Fatalf("implausible %+v", r)
		}
	})
}

func FuzzParseAuthMoreData(f *testing.F) {
	addSeeds(f, []byte{0x01}, []byte{0x01, 0x03}, []byte{0x01, 0x04})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := handshake.ParseAuthMoreData(b)
		if err == nil && len(m.Data) != len(b)-1 {
			t.Fatalf("data %d bytes from %d", len(m.Data), len(b))
		}
	})
}

func FuzzParseOK(f *testing.F) {
	addSeeds(f, []byte{0, 0, 0, 2, 0, 0, 0}, []byte{0, 0xfc, 1}, []byte{0xfe, 0xfe, 1, 2, 3, 4, 5, 6, 7, 8})
	caps := []handshake.Capability{0, handshake.ClientProtocol41, handshake.ClientTransactions,
		handshake.ClientProtocol41 | handshake.ClientSessionTrack}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, c := range caps {
			_, _ = handshake.ParseOK(b, c)
		}
	})
}

func FuzzParseERR(f *testing.F) {
	addSeeds(f, []byte{0xff, 0x15, 0x04, '#', '2', '8', '0', '0', '0', 'x'}, []byte{0xff, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := handshake.ParseERR(b)
		if err == nil && (len(e.SQLState) != 0 && len(e.SQLState) != 5) {
			t.Fatalf("sqlstate %q", e.SQLState)
		}
	})
}

func FuzzReadPacket(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.bin"))
	for _, name := range files {
		b, _ := os.ReadFile(name)
		framed, _ := handshake.AppendPacket(nil, 0, b)
		f.Add(framed)
	}
	f.Add([]byte("HTTP/1.1 200 OK\r\n"))
	f.Add([]byte{0xff, 0xff, 0xff, 0, 1, 2})
	f.Fuzz(func(t *testing.T, b []byte) {
		seq, p, err := handshake.ReadPacket(bytes.NewReader(b))
		if err != nil {
			return
		}
		if len(p) > handshake.MaxPayload {
			t.Fatalf("payload %d bytes", len(p))
		}
		again, _ := handshake.AppendPacket(nil, seq, p)
		seq2, p2, err := handshake.ReadPacket(bytes.NewReader(again))
		if err != nil || seq2 != seq || !bytes.Equal(p, p2) {
			t.Fatalf("round trip: %v", err)
		}
	})
}
