package handshake

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"

	"filippo.io/edwards25519"
)

// Client authentication plugin names: the one set of plugin constants
// (broker/hints and broker/config use these; hints' names are aliases).
const (
	PluginNative        = "mysql_native_password"
	PluginCachingSHA2   = "caching_sha2_password"
	PluginSHA256        = "sha256_password"
	PluginClearPassword = "mysql_clear_password"
	PluginEd25519       = "client_ed25519"
	PluginOldPassword   = "mysql_old_password"
	PluginDialog        = "dialog"
)

// Server-side authentication plugin names, as mysql.user.plugin (MySQL) or
// mysql.global_priv's plugin (MariaDB) spells them, where they differ from
// the client plugin's name.
const (
	// ServerPluginEd25519 is MariaDB's ed25519 account plugin (the client
	// plugin is PluginEd25519).
	ServerPluginEd25519 = "ed25519"
	// ServerPluginRDSIAM is the plugin of an RDS/Aurora IAM account.
	ServerPluginRDSIAM = "AWSAuthenticationPlugin"
	// ServerPluginPAM is MariaDB's PAM plugin.
	ServerPluginPAM = "pam"
	// ServerPluginAuthPAM is Percona Server's PAM plugin.
	ServerPluginAuthPAM = "auth_pam"
)

// ClearTextServerPlugin reports whether an account with this server-side
// plugin takes the secret in clear text (the client answers with
// mysql_clear_password): RDS IAM accounts, PAM (MariaDB's pam, Percona's
// auth_pam) and mysql_clear_password itself. The one classification of
// account plugins: broker/resolve decides the method with it and
// broker/diagnose explains a refusal with it.
func ClearTextServerPlugin(server string) bool {
	switch server {
	case ServerPluginRDSIAM, PluginClearPassword, ServerPluginPAM, ServerPluginAuthPAM:
		return true
	}
	return false
}

// ClientPluginFor maps a server-side account plugin to the client plugin
// that logs in to it; "" for "".
func ClientPluginFor(server string) string {
	switch {
	case server == ServerPluginEd25519:
		return PluginEd25519
	case ClearTextServerPlugin(server):
		return PluginClearPassword
	}
	return server
}

// scramble20 returns the 20-byte nonce native and caching_sha2 use: MySQL
// sends 20 bytes plus a NUL in an AuthSwitchRequest.
func scramble20(data []byte) []byte {
	if len(data) > 20 {
		return data[:20]
	}
	return data
}

// scrambleNative computes mysql_native_password's response:
// SHA1(password) XOR SHA1(nonce + SHA1(SHA1(password))). An empty password
// gives an empty response.
//
// https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_connection_phase_authentication_methods_native_password_authentication.html
func scrambleNative(nonce []byte, password string) []byte {
	if password == "" {
		return nil
	}
	stage1 := sha1.Sum([]byte(password))
	stage2 := sha1.Sum(stage1[:])
	h := sha1.New()
	h.Write(nonce)
	h.Write(stage2[:])
	out := h.Sum(nil)
	for i := range out {
		out[i] ^= stage1[i]
	}
	return out
}

// scrambleCachingSHA2 computes caching_sha2_password's fast-auth response:
// SHA256(password) XOR SHA256(SHA256(SHA256(password)) + nonce).
//
// https://dev.mysql.com/doc/dev/mysql-server/latest/page_caching_sha2_authentication_exchanges.html
func scrambleCachingSHA2(nonce []byte, password string) []byte {
	if password == "" {
		return nil
	}
	m1 := sha256.Sum256([]byte(password))
	m1h := sha256.Sum256(m1[:])
	h := sha256.New()
	h.Write(m1h[:])
	h.Write(nonce)
	out := h.Sum(nil)
	for i := range out {
		out[i] ^= m1[i]
	}
	return out
}

// encryptPassword is the RSA step of caching_sha2_password and
// sha256_password on a connection without TLS:
// RSA-OAEP(SHA1)((password + NUL) XOR nonce, repeating the nonce).
func encryptPassword(password string, nonce []byte, pub *rsa.PublicKey) ([]byte, error) {
	if len(nonce) == 0 {
		return nil, errors.New("encrypt password: empty nonce")
	}
	plain := make([]byte, len(password)+1)
	copy(plain, password)
	for i := range plain {
		plain[i] ^= nonce[i%len(nonce)]
	}
	out, err := rsa.EncryptOAEP(sha1.New(), rand.Reader, pub, plain, nil)
	if err != nil {
		return nil, fmt.Errorf("encrypt password: %w", err)
	}
	return out, nil
}

// parsePublicKey decodes the PEM RSA public key a server sends in
// AuthMoreData.
func parsePublicKey(data []byte) (*rsa.PublicKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, &ParseError{Packet: "rsa public key", Reason: "no PEM block"}
	}
	var pub any
	var err error
	switch block.Type {
	case "RSA PUBLIC KEY":
		pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
	default:
		pub, err = x509.ParsePKIXPublicKey(block.Bytes)
	}
	if err != nil {
		return nil, &ParseError{Packet: "rsa public key", Reason: err.Error()}
	}
	rsaPub, ok := pub.(*rsa.PublicKey)
	if !ok {
		return nil, &ParseError{Packet: "rsa public key", Reason: fmt.Sprintf("%T is not an RSA key", pub)}
	}
	return rsaPub, nil
}

// signEd25519 computes MariaDB's client_ed25519 response: an Ed25519
// signature of the 32-byte nonce with a key whose seed expansion is
// SHA512(password) (MariaDB's ref10 variant: the password itself is hashed,
// not a 32-byte seed), as in MariaDB's plugin/auth_ed25519/ref10/sign.c and
// go-sql-driver/mysql's authEd25519.
//
// https://mariadb.com/kb/en/authentication-plugin-ed25519/
func signEd25519(nonce []byte, password string) ([]byte, error) {
	h := sha512.Sum512([]byte(password))
	s, err := edwards25519.NewScalar().SetBytesWithClamping(h[:32])
	if err != nil {
		return nil, fmt.Errorf("ed25519 key: %w", err)
	}
	a := (&edwards25519.Point{}).ScalarBaseMult(s)
	mh := sha512.New()
	mh.Write(h[32:])
	mh.Write(nonce)
	r, err := edwards25519.NewScalar().SetUniformBytes(mh.Sum(nil))
	if err != nil {
		return nil, fmt.Errorf("ed25519 nonce: %w", err)
	}
	rp := (&edwards25519.Point{}).ScalarBaseMult(r)
	kh := sha512.New()
	kh.Write(rp.Bytes())
	kh.Write(a.Bytes())
	kh.Write(nonce)
	k, err := edwards25519.NewScalar().SetUniformBytes(kh.Sum(nil))
	if err != nil {
		return nil, fmt.Errorf("ed25519 challenge: %w", err)
	}
	sig := k.MultiplyAdd(k, s, r)
	return append(rp.Bytes(), sig.Bytes()...), nil
}
