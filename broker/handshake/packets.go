package handshake

import (
	"bytes"
	"fmt"
	"math/bits"
	"strings"
)

// Capability is the set of capability flags (CLIENT_*) a server announces in
// its greeting or a client sends in its response.
//
// https://dev.mysql.com/doc/dev/mysql-server/latest/group__group__cs__capabilities__flags.html
type Capability uint32

// Capability flags used by the connection phase.
const (
	ClientLongPassword               Capability = 1 << 0 // CLIENT_LONG_PASSWORD; MariaDB: CLIENT_MYSQL (clear on MariaDB >= 10.2)
	ClientFoundRows                  Capability = 1 << 1
	ClientLongFlag                   Capability = 1 << 2
	ClientConnectWithDB              Capability = 1 << 3
	ClientNoSchema                   Capability = 1 << 4
	ClientCompress                   Capability = 1 << 5
	ClientODBC                       Capability = 1 << 6
	ClientLocalFiles                 Capability = 1 << 7
	ClientIgnoreSpace                Capability = 1 << 8
	ClientProtocol41                 Capability = 1 << 9
	ClientInteractive                Capability = 1 << 10
	ClientSSL                        Capability = 1 << 11
	ClientIgnoreSIGPIPE              Capability = 1 << 12
	ClientTransactions               Capability = 1 << 13
	ClientReserved                   Capability = 1 << 14
	ClientSecureConnection           Capability = 1 << 15
	ClientMultiStatements            Capability = 1 << 16
	ClientMultiResults               Capability = 1 << 17
	ClientPSMultiResults             Capability = 1 << 18
	ClientPluginAuth                 Capability = 1 << 19
	ClientConnectAttrs               Capability = 1 << 20
	ClientPluginAuthLenencClientData Capability = 1 << 21
	ClientCanHandleExpiredPasswords  Capability = 1 << 22
	ClientSessionTrack               Capability = 1 << 23
	ClientDeprecateEOF               Capability = 1 << 24
	ClientOptionalResultsetMetadata  Capability = 1 << 25
	ClientZstdCompression            Capability = 1 << 26
	ClientQueryAttributes            Capability = 1 << 27
	ClientMultiFactorAuthentication  Capability = 1 << 28
	ClientCapabilityExtension        Capability = 1 << 29
	ClientSSLVerifyServerCert        Capability = 1 << 30
	ClientRememberOptions            Capability = 1 << 31
)

var capabilityNames = [32]string{
	"LONG_PASSWORD", "FOUND_ROWS", "LONG_FLAG", "CONNECT_WITH_DB", "NO_SCHEMA", "COMPRESS", "ODBC",
	"LOCAL_FILES", "IGNORE_SPACE", "PROTOCOL_41", "INTERACTIVE", "SSL", "IGNORE_SIGPIPE", "TRANSACTIONS",
	"RESERVED", "SECURE_CONNECTION", "MULTI_STATEMENTS", "MULTI_RESULTS", "PS_MULTI_RESULTS", "PLUGIN_AUTH",
	"CONNECT_ATTRS", "PLUGIN_AUTH_LENENC_CLIENT_DATA", "CAN_HANDLE_EXPIRED_PASSWORDS", "SESSION_TRACK",
	"DEPRECATE_EOF", "OPTIONAL_RESULTSET_METADATA", "ZSTD_COMPRESSION_ALGORITHM", "QUERY_ATTRIBUTES",
	"MULTI_FACTOR_AUTHENTICATION", "CAPABILITY_EXTENSION", "SSL_VERIFY_SERVER_CERT", "REMEMBER_OPTIONS",
}

// Has reports whether every flag in f is set.
func (c Capability) Has(f Capability) bool { return c&f == f }

// Names lists the set flags without the CLIENT_ prefix, lowest bit first.
func (c Capability) Names() []string {
	var out []string
	for v := uint32(c); v != 0; v &= v - 1 {
		out = append(out, capabilityNames[bits.TrailingZeros32(v)])
	}
	return out
}

// String renders the flags as "PROTOCOL_41|SSL|...".
func (c Capability) String() string {
	if c == 0 {
		return "0"
	}
	return strings.Join(c.Names(), "|")
}

// Greeting is the server's first packet, Protocol::HandshakeV10.
type Greeting struct {
	// ProtocolVersion is always 10 for servers this package supports.
	ProtocolVersion uint8
	// ServerVersion is the human-readable version, e.g.
	// "8.0.36" or "5.5.5-10.11.6-MariaDB-0+deb12u1".
	ServerVersion string
	// ConnectionID is the server's thread id for this connection.
	ConnectionID uint32
	// AuthPluginData is the scramble (nonce), parts 1 and 2 joined, without
	// the NUL that terminates part 2: 20 bytes from MySQL and MariaDB.
	AuthPluginData []byte
	// Capabilities are the server's flags (lower and upper halves joined).
	Capabilities Capability
	// CharacterSet is the server's default collation id (e.g. 255
	// utf8mb4_0900_ai_ci, 45 utf8mb4_general_ci, 8 latin1_swedish_ci).
	CharacterSet uint8
	// StatusFlags are SERVER_STATUS_* flags.
	StatusFlags uint16
	// AuthPluginName is the plugin the server proposes, e.g.
	// "caching_sha2_password"; empty when CLIENT_PLUGIN_AUTH is not set.
	AuthPluginName string
	// MariaDBCapabilities are MariaDB's extended capabilities, sent in the
	// reserved bytes when the server clears CLIENT_MYSQL (bit 0).
	MariaDBCapabilities uint32
}

// Flavor is "MariaDB" or "MySQL", as IsMariaDB decides.
func (g *Greeting) Flavor() string {
	if g.IsMariaDB() {
		return "MariaDB"
	}
	return "MySQL"
}

// OffersTLS reports whether the server offers TLS (CLIENT_SSL).
func (g *Greeting) OffersTLS() bool { return g.Capabilities.Has(ClientSSL) }

// IsMariaDB reports whether the greeting comes from MariaDB.
func (g *Greeting) IsMariaDB() bool {
	return strings.Contains(g.ServerVersion, "MariaDB") || !g.Capabilities.Has(ClientLongPassword)
}

// ParseGreeting parses Protocol::HandshakeV10. An ERR packet in place of a
// greeting (first byte 0xff, e.g. "Too many connections") is not a greeting:
// parse it with ParseERR.
//
// https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_connection_phase_packets_protocol_handshake_v10.html
func ParseGreeting(payload []byte) (*Greeting, error) {
	r := &reader{packet: "greeting", b: payload}
	g := &Greeting{}
	// int<1> protocol version: always 10 (9 is pre-4.1, unsupported).
	g.ProtocolVersion = r.u8("protocol version")
	if r.err == nil && g.ProtocolVersion != 10 {
		r.pos = 0
		if g.ProtocolVersion == 0xff {
			r.fail("an ERR packet, not a greeting")
		} else {
			r.fail(fmt.Sprintf("protocol version %d, want 10", g.ProtocolVersion))
		}
		return nil, r.err
	}
	// string<NUL> server version.
	g.ServerVersion = r.nulString("server version")
	// int<4> thread (connection) id.
	g.ConnectionID = r.u32("connection id")
	// string[8] auth-plugin-data-part-1: first 8 bytes of the scramble.
	part1 := r.bytes(8, "auth-plugin-data-part-1")
	// int<1> filler, always 0x00.
	r.u8("filler")
	// int<2> capability_flags_1: lower two bytes of the capabilities.
	g.Capabilities = Capability(r.u16("capability flags (lower)"))
	if r.err != nil {
		return nil, r.err
	}
	g.AuthPluginData = append([]byte(nil), part1...)
	if r.remaining() == 0 {
		// A 4.1-era server may end here; everything else is optional.
		return g, nil
	}
	// int<1> character_set: the server's default collation.
	g.CharacterSet = r.u8("character set")
	// int<2> status_flags.
	g.StatusFlags = r.u16("status flags")
	// int<2> capability_flags_2: upper two bytes of the capabilities.
	g.Capabilities |= Capability(r.u16("capability flags (upper)")) << 16
	// int<1> auth_plugin_data_len if CLIENT_PLUGIN_AUTH, else 0x00.
	dataLen := int(r.u8("auth plugin data length"))
	// string[10] reserved. MariaDB: 6 zero bytes, then int<4> extended
	// capabilities when it clears CLIENT_MYSQL.
	reserved := r.bytes(10, "reserved")
	if r.err != nil {
		return nil, r.err
	}
	if !g.Capabilities.Has(ClientLongPassword) {
		g.MariaDBCapabilities = uint32(reserved[6]) | uint32(reserved[7])<<8 | uint32(reserved[8])<<16 | uint32(reserved[9])<<24
	}
	if g.Capabilities.Has(ClientSecureConnection) {
		// $len auth-plugin-data-part-2, len = MAX(13, auth_plugin_data_len - 8).
		// The 13th byte is a NUL that terminates the scramble.
		n := max(13, dataLen-8)
		if r.remaining() < n {
			// Tolerate servers that send exactly 12 bytes and no NUL.
			n = min(n, r.remaining())
		}
		part2 := r.bytes(n, "auth-plugin-data-part-2")
		if i := bytes.IndexByte(part2, 0); i >= 0 {
			part2 = part2[:i]
		}
		g.AuthPluginData = append(g.AuthPluginData, part2...)
	}
	if g.Capabilities.Has(ClientPluginAuth) && r.err == nil && r.remaining() > 0 {
		// string<NUL> auth_plugin_name (string<EOF> in 5.5.7-5.5.9 and 5.6.0-5.6.1).
		rest := r.eofBytes()
		if i := bytes.IndexByte(rest, 0); i >= 0 {
			rest = rest[:i]
		}
		g.AuthPluginName = string(rest)
	}
	if r.err != nil {
		return nil, r.err
	}
	return g, nil
}

// AuthSwitchRequest asks the client to authenticate again with another
// plugin and a new scramble.
type AuthSwitchRequest struct {
	// PluginName is the plugin to switch to.
	PluginName string
	// PluginData is the plugin's initial data (a new scramble), as sent;
	// MySQL appends a NUL to a 20-byte scramble.
	PluginData []byte
}

// ParseAuthSwitchRequest parses Protocol::AuthSwitchRequest. The
// single-byte 0xfe form (Protocol::OldAuthSwitchRequest) means
// mysql_old_password with the greeting's scramble.
//
// https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_connection_phase_packets_protocol_auth_switch_request.html
func ParseAuthSwitchRequest(payload []byte) (*AuthSwitchRequest, error) {
	r := &reader{packet: "auth switch request", b: payload}
	// int<1> status tag: 0xfe.
	if tag := r.u8("status tag"); r.err == nil && tag != 0xfe {
		r.pos = 0
		r.fail(fmt.Sprintf("status tag 0x%02x, want 0xfe", tag))
	}
	if r.err != nil {
		return nil, r.err
	}
	if r.remaining() == 0 {
		return &AuthSwitchRequest{PluginName: PluginOldPassword}, nil
	}
	// string<NUL> plugin name.
	name := r.nulString("plugin name")
	if r.err == nil && name == "" {
		r.fail("empty plugin name")
	}
	// string<EOF> auth plugin data.
	data := r.eofBytes()
	if r.err != nil {
		return nil, r.err
	}
	return &AuthSwitchRequest{PluginName: name, PluginData: append([]byte(nil), data...)}, nil
}

// AuthMoreData carries plugin-specific data from the server during
// authentication.
type AuthMoreData struct {
	// Data is the plugin data: for caching_sha2_password 0x03 (fast auth
	// succeeded) or 0x04 (perform full authentication), or a PEM public key.
	Data []byte
}

// caching_sha2_password status bytes in AuthMoreData, and the client's
// public-key request byte.
//
// https://dev.mysql.com/doc/dev/mysql-server/latest/page_caching_sha2_authentication_exchanges.html
const (
	CachingSHA2FastAuthSuccess        = 0x03
	CachingSHA2PerformFullAuth        = 0x04
	CachingSHA2RequestPublicKey       = 0x02
	SHA256RequestPublicKey            = 0x01
	statusOK                          = 0x00
	statusAuthMoreData                = 0x01
	statusAuthSwitch                  = 0xfe
	statusERR                         = 0xff
	defaultCharset              uint8 = 45 // utf8mb4_general_ci: known to MySQL 5.5+ and MariaDB
	defaultMaxPacket                  = 16 << 20
)

// IsFastAuthSuccess reports caching_sha2_password's 0x03.
func (m *AuthMoreData) IsFastAuthSuccess() bool {
	return len(m.Data) == 1 && m.Data[0] == CachingSHA2FastAuthSuccess
}

// IsPerformFullAuth reports caching_sha2_password's 0x04.
func (m *AuthMoreData) IsPerformFullAuth() bool {
	return len(m.Data) == 1 && m.Data[0] == CachingSHA2PerformFullAuth
}

// ParseAuthMoreData parses Protocol::AuthMoreData.
//
// https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_connection_phase_packets_protocol_auth_more_data.html
func ParseAuthMoreData(payload []byte) (*AuthMoreData, error) {
	r := &reader{packet: "auth more data", b: payload}
	// int<1> status: 0x01.
	if tag := r.u8("status"); r.err == nil && tag != statusAuthMoreData {
		r.pos = 0
		r.fail(fmt.Sprintf("status 0x%02x, want 0x01", tag))
	}
	// string<EOF> authentication method data.
	data := r.eofBytes()
	if r.err != nil {
		return nil, r.err
	}
	return &AuthMoreData{Data: append([]byte(nil), data...)}, nil
}

// OK is an OK_Packet.
type OK struct {
	// AffectedRows is 0 in the connection phase.
	AffectedRows uint64
	// LastInsertID is 0 in the connection phase.
	LastInsertID uint64
	// StatusFlags are SERVER_STATUS_* flags.
	StatusFlags uint16
	// Warnings is the warning count.
	Warnings uint16
	// Info is the human-readable status information, often empty.
	Info string
}

// ParseOK parses an OK_Packet. caps are the capabilities in force (the
// client's, as sent in the HandshakeResponse).
//
// https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_basic_ok_packet.html
func ParseOK(payload []byte, caps Capability) (*OK, error) {
	r := &reader{packet: "OK", b: payload}
	// int<1> header: 0x00 (OK) or 0xfe (EOF-style OK with DEPRECATE_EOF).
	if h := r.u8("header"); r.err == nil && h != 0x00 && h != 0xfe {
		r.pos = 0
		r.fail(fmt.Sprintf("header 0x%02x, want 0x00 or 0xfe", h))
	}
	ok := &OK{}
	// int<lenenc> affected_rows.
	ok.AffectedRows = r.lenencInt("affected rows")
	// int<lenenc> last_insert_id.
	ok.LastInsertID = r.lenencInt("last insert id")
	switch {
	case caps.Has(ClientProtocol41):
		// int<2> status_flags; int<2> warnings.
		ok.StatusFlags = r.u16("status flags")
		ok.Warnings = r.u16("warnings")
	case caps.Has(ClientTransactions):
		// int<2> status_flags.
		ok.StatusFlags = r.u16("status flags")
	}
	if r.err != nil {
		return nil, r.err
	}
	if caps.Has(ClientSessionTrack) {
		// string<lenenc> info (session state changes are not needed here).
		if r.remaining() > 0 {
			n := r.lenencInt("info length")
			if r.err == nil && n > uint64(r.remaining()) {
				r.fail(fmt.Sprintf("info length %d exceeds remaining %d bytes", n, r.remaining()))
			}
			ok.Info = string(r.bytes(int(n), "info"))
		}
	} else {
		// string<EOF> info.
		ok.Info = string(r.eofBytes())
	}
	if r.err != nil {
		return nil, r.err
	}
	return ok, nil
}

// ParseERR parses an ERR_Packet into the error it reports. The SQLSTATE is
// read whenever the '#' marker is present (a server that refuses before the
// handshake, e.g. 1040, may omit it).
//
// https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_basic_err_packet.html
func ParseERR(payload []byte) (*ServerError, error) {
	r := &reader{packet: "ERR", b: payload}
	// int<1> header: 0xff.
	if h := r.u8("header"); r.err == nil && h != statusERR {
		r.pos = 0
		r.fail(fmt.Sprintf("header 0x%02x, want 0xff", h))
	}
	e := &ServerError{}
	// int<2> error_code.
	e.Code = r.u16("error code")
	if r.err != nil {
		return nil, r.err
	}
	// string[1] sql_state_marker '#', string[5] sql_state (CLIENT_PROTOCOL_41).
	if r.remaining() >= 6 && r.b[r.pos] == '#' {
		r.pos++
		e.SQLState = string(r.bytes(5, "sql state"))
	}
	// string<EOF> error_message.
	e.Message = string(r.eofBytes())
	return e, nil
}

// HandshakeResponse is the client's Protocol::HandshakeResponse41.
type HandshakeResponse struct {
	// Capabilities the client asks for; must include ClientProtocol41.
	Capabilities Capability
	// MaxPacketSize is the largest packet the client accepts.
	MaxPacketSize uint32
	// CharacterSet is the client's collation id.
	CharacterSet uint8
	// Username is the login name.
	Username string
	// AuthResponse is the plugin's first answer (opaque, secret-derived).
	AuthResponse []byte
	// Database is the initial schema (sent with ClientConnectWithDB).
	Database string
	// AuthPluginName is the plugin AuthResponse was computed with (sent
	// with ClientPluginAuth).
	AuthPluginName string
}

// AppendSSLRequest appends the payload of Protocol::SSLRequest: the first 32
// bytes of a HandshakeResponse41, after which the client starts TLS.
//
// https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_connection_phase_packets_protocol_ssl_request.html
func AppendSSLRequest(dst []byte, caps Capability, maxPacket uint32, charset uint8) []byte {
	caps |= ClientSSL
	// int<4> client_flag; int<4> max_packet_size; int<1> character_set.
	dst = append(dst, byte(caps), byte(caps>>8), byte(caps>>16), byte(caps>>24))
	dst = append(dst, byte(maxPacket), byte(maxPacket>>8), byte(maxPacket>>16), byte(maxPacket>>24))
	dst = append(dst, charset)
	// string[23] filler: zeros.
	return append(dst, make([]byte, 23)...)
}

// AppendHandshakeResponse41 appends the payload of
// Protocol::HandshakeResponse41.
//
// https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_connection_phase_packets_protocol_handshake_response.html
func AppendHandshakeResponse41(dst []byte, h *HandshakeResponse) []byte {
	caps := h.Capabilities | ClientProtocol41
	// int<4> client_flag; int<4> max_packet_size; int<1> character_set;
	// string[23] filler (same 32 bytes as the SSLRequest).
	dst = append(dst, byte(caps), byte(caps>>8), byte(caps>>16), byte(caps>>24))
	dst = append(dst, byte(h.MaxPacketSize), byte(h.MaxPacketSize>>8), byte(h.MaxPacketSize>>16), byte(h.MaxPacketSize>>24))
	dst = append(dst, h.CharacterSet)
	dst = append(dst, make([]byte, 23)...)
	// string<NUL> username.
	dst = append(append(dst, h.Username...), 0)
	switch {
	case caps.Has(ClientPluginAuthLenencClientData):
		// string<lenenc> auth_response.
		dst = appendLenencInt(dst, uint64(len(h.AuthResponse)))
		dst = append(dst, h.AuthResponse...)
	case caps.Has(ClientSecureConnection):
		// int<1> auth_response_length; string[n] auth_response.
		resp := h.AuthResponse[:min(len(h.AuthResponse), 255)]
		dst = append(dst, byte(len(resp)))
		dst = append(dst, resp...)
	default:
		// string<NUL> auth_response.
		dst = append(append(dst, h.AuthResponse...), 0)
	}
	if caps.Has(ClientConnectWithDB) {
		// string<NUL> database.
		dst = append(append(dst, h.Database...), 0)
	}
	if caps.Has(ClientPluginAuth) {
		// string<NUL> client_plugin_name.
		dst = append(append(dst, h.AuthPluginName...), 0)
	}
	return dst
}
