package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/connbroker/connbroker/broker"
	"github.com/connbroker/connbroker/broker/credential"
)

// TestSecretsNotInPanicsOrErrorStrings formats a domain value holding a
// secret every way a panic, an error or a log line could, and panics with
// it inside a real interceptor chain.
func TestSecretsNotInPanicsOrErrorStrings(t *testing.T) {
	const secret = "panic-path-secret-3e9f"
	p := &broker.Params{Endpoint: "orders", User: "app", Credential: credential.Credential{
		Kind: credential.KindPassword, Secret: credential.NewSecret(secret), ExpiresAt: time.Now(),
	}}
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	var texts []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		texts = append(texts, fmt.Sprintf(verb, p), fmt.Sprintf(verb, p.Credential), fmt.Sprintf(verb, *p))
	}
	js, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	texts = append(texts, string(js), fmt.Errorf("issue for %v: %w", p, errors.New("x")).Error())
	log.Info("params", "params", p, "cred", p.Credential, "secret", p.Credential.Secret)

	handler := func(context.Context, any) (any, error) {
		panic(fmt.Sprintf("boom with %v and %s", p, p.Credential.Secret.Reveal()))
	}
	_, perr := recoverUnary(log)(context.Background(), nil, &grpc.UnaryServerInfo{FullMethod: "/x/Y"}, handler)
	if perr == nil {
		t.Fatal("panic was not turned into an error")
	}
	texts = append(texts, perr.Error(), logs.String())
	for i, s := range texts {
		if strings.Contains(s, secret) {
			t.Errorf("text %d holds the secret: %s", i, s)
		}
	}
	if !strings.Contains(logs.String(), "panic in handler") {
		t.Errorf("the panic was not logged: %s", logs.String())
	}
}
