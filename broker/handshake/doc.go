// Package handshake is the broker's own client side of the MySQL connection
// phase, written from the protocol specification. It parses and writes the
// packets of the connection phase, implements the client auth plugins
// (mysql_native_password, caching_sha2_password, sha256_password,
// mysql_clear_password, MariaDB's client_ed25519), and runs a Probe: one
// complete connection phase against a server, as a given driver would run it
// (a Profile), recording a Transcript of what happened.
//
// The transcript never contains the secret nor anything derived from it
// (scrambles, encrypted passwords and signatures are never recorded).
//
// Spec pages used (dev.mysql.com/doc/dev/mysql-server/latest/):
//   - page_protocol_basic_packets.html (framing)
//   - page_protocol_connection_phase_packets_protocol_handshake_v10.html
//   - page_protocol_connection_phase_packets_protocol_ssl_request.html
//   - page_protocol_connection_phase_packets_protocol_handshake_response.html
//   - page_protocol_connection_phase_packets_protocol_auth_switch_request.html
//   - page_protocol_connection_phase_packets_protocol_auth_more_data.html
//   - page_protocol_basic_ok_packet.html, page_protocol_basic_err_packet.html
//   - page_caching_sha2_authentication_exchanges.html
package handshake
