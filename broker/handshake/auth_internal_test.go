package handshake

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	gmysql "github.com/go-mysql-org/go-mysql/mysql"
)

func TestScrambles(t *testing.T) {
	sha2Nonce := []byte{10, 47, 74, 111, 75, 73, 34, 48, 88, 76, 114, 74, 37, 13, 3, 80, 82, 2, 23, 21}
	tests := []struct {
		name string
		got  []byte
		want string
	}{
		// Vectors from go-sql-driver/mysql auth_test.go.
		{"caching_sha2 secret", scrambleCachingSHA2(sha2Nonce, "secret"), "f490e76f66d9d86665ce54d98c78d0acfe2fb0b08b423da807144873d30b312c"},
		{"caching_sha2 secret2", scrambleCachingSHA2(sha2Nonce, "secret2"), "abc3934a012cf342e876071c8ee202de51785b430258a7a0138bc79c4d800bc6"},
		{"caching_sha2 empty", scrambleCachingSHA2(sha2Nonce, ""), ""},
		{"native empty", scrambleNative(sha2Nonce, ""), ""},
		{"ed25519 foobar", must(signEd25519([]byte("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), "foobar")),
			"e83dc93f433f33355649ee23aa7592d61a1123090884f58d3063423a24e4305473febba858a2f93923554feea76a44753887ab2f140e854f0fe57ca0b0648a0e"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := hex.EncodeToString(tc.got); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

// TestScrambleNativeMatchesServer checks the native scramble with the
// go-mysql server's verifier, an independent implementation.
func TestScrambleNativeMatchesServer(t *testing.T) {
	nonce := []byte("0123456789abcdefghij")
	for _, pw := range []string{"a", "native-pw", "pässwörd with spaces"} {
		stage2 := gmysql.NativePasswordHash([]byte(pw))
		decoded, err := gmysql.DecodePasswordHex(gmysql.EncodePasswordHex(stage2))
		if err != nil {
			t.Fatal(err)
		}
		if !gmysql.CompareNativePassword(scrambleNative(nonce, pw), decoded, nonce) {
			t.Errorf("server rejects our native scramble for %q", pw)
		}
	}
}

func TestEncryptPasswordRoundTrip(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	nonce := []byte("0123456789abcdefghij")
	enc, err := encryptPassword("a password longer than the twenty byte nonce", nonce, &key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := rsa.DecryptOAEP(sha1.New(), nil, key, enc, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range plain {
		plain[i] ^= nonce[i%len(nonce)]
	}
	if got, want := string(plain), "a password longer than the twenty byte nonce\x00"; got != want {
		t.Errorf("decrypted %q, want %q", got, want)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// FuzzParsePublicKey: the RSA key comes from the network in AuthMoreData.
func FuzzParsePublicKey(f *testing.F) {
	b, err := os.ReadFile(filepath.Join("testdata", "mysql8-auth-more-data-public-key.bin"))
	if err != nil || len(b) < 2 {
		f.Fatalf("golden public key packet: %v", err)
	}
	f.Add(b[1:]) // the AuthMoreData payload after its 0x01 status byte: a PEM key
	f.Add(b)
	f.Add([]byte("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"))
	f.Add([]byte("-----BEGIN RSA PUBLIC KEY-----\n-----END RSA PUBLIC KEY-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		pub, err := parsePublicKey(data)
		if err == nil && (pub == nil || pub.N == nil) {
			t.Fatal("nil key without an error")
		}
	})
}
