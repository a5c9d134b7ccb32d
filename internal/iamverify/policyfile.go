package iamverify

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"
)

// PolicyFile is the JSON form of a Policy, as read by
// cmd/connbroker-pam-check on every login attempt. Tests rewrite it to
// simulate an expired token (ClockOffset) or a server in another region.
// The file holds a secret key: write it with mode 0600.
type PolicyFile struct {
	AccessKeyID     string `json:"access_key_id"`
	SecretAccessKey string `json:"secret_access_key"`
	Region          string `json:"region"`
	Host            string `json:"host"`
	Port            int    `json:"port"`
	// ClockOffset is added to the wall clock before checking the validity
	// window, e.g. "20m" makes every fresh token look expired. Go duration syntax.
	ClockOffset string `json:"clock_offset,omitempty"`
	// MaxSkew overrides DefaultMaxSkew, Go duration syntax; "" means the default.
	MaxSkew string `json:"max_skew,omitempty"`
	// LogFile is where the checker appends one JSON line per attempt; "" means no log.
	LogFile string `json:"log_file,omitempty"`
}

// String hides the secret so a PolicyFile can be printed or logged.
func (f PolicyFile) String() string {
	return fmt.Sprintf("PolicyFile{AccessKeyID:%q Region:%q Host:%q Port:%d ClockOffset:%q MaxSkew:%q LogFile:%q SecretAccessKey:REDACTED}",
		f.AccessKeyID, f.Region, f.Host, f.Port, f.ClockOffset, f.MaxSkew, f.LogFile)
}

// GoString hides the secret in %#v.
func (f PolicyFile) GoString() string { return f.String() }

// Policy converts the file form to a Policy, with Now shifted by ClockOffset.
func (f PolicyFile) Policy() (Policy, error) {
	p := Policy{
		AccessKeyID:     f.AccessKeyID,
		SecretAccessKey: f.SecretAccessKey,
		Region:          f.Region,
		Host:            f.Host,
		Port:            f.Port,
	}
	var errs []error
	if f.ClockOffset != "" {
		off, err := time.ParseDuration(f.ClockOffset)
		if err != nil {
			errs = append(errs, fmt.Errorf("clock_offset: %w", err))
		}
		p.Now = func() time.Time { return time.Now().Add(off) }
	}
	if f.MaxSkew != "" {
		d, err := time.ParseDuration(f.MaxSkew)
		if err != nil {
			errs = append(errs, fmt.Errorf("max_skew: %w", err))
		}
		p.MaxSkew = d
	}
	for _, m := range []struct {
		name string
		bad  bool
	}{
		{"access_key_id", f.AccessKeyID == ""},
		{"secret_access_key", f.SecretAccessKey == ""},
		{"region", f.Region == ""},
		{"host", f.Host == ""},
		{"port", f.Port <= 0 || f.Port > 65535},
	} {
		if m.bad {
			errs = append(errs, fmt.Errorf("%s: required", m.name))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return Policy{}, fmt.Errorf("policy file: %w", err)
	}
	return p, nil
}

// LoadPolicyFile reads and decodes a PolicyFile; unknown fields are errors.
func LoadPolicyFile(path string) (PolicyFile, error) {
	var f PolicyFile
	b, err := os.ReadFile(path)
	if err != nil {
		return f, fmt.Errorf("read policy file: %w", err)
	}
	if err := decodeStrict(b, &f); err != nil {
		return PolicyFile{}, fmt.Errorf("decode policy file %s: %w", path, err)
	}
	return f, nil
}

// WritePolicyFile writes f as JSON with mode 0600, atomically (write to a
// temporary file, then rename) so a concurrent reader never sees half a file.
func WritePolicyFile(path string, f PolicyFile) error {
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("encode policy file: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("write policy file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write policy file: %w", err)
	}
	return nil
}

func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the JSON object")
	}
	return nil
}
