package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// typedUsage is a binary's own typed error that picks its code.
type typedUsage struct{}

func (typedUsage) Error() string { return "bad config" }
func (typedUsage) ExitCode() int { return Usage }

func TestExit(t *testing.T) {
	rejected := errors.New("rejected")
	for _, tc := range []struct {
		name    string
		err     error
		code    int
		printed string
	}{
		{"nil", nil, OK, ""},
		{"stdlib help", fmt.Errorf("parse: %w", flag.ErrHelp), OK, ""},
		{"pflag help", pflag.ErrHelp, OK, ""},
		{"plain error", errors.New("serve: boom"), Failed, "tool: serve: boom\n"},
		{"usage", Usagef("--timeout must be positive"), Usage, "tool: --timeout must be positive\n"},
		{"typed usage, wrapped", fmt.Errorf("load: %w", typedUsage{}), Usage, "tool: load: bad config\n"},
		{"status", status.Error(codes.Unavailable, "connection refused"), BrokerUnreachable, "tool: rpc error: code = Unavailable desc = connection refused\n"},
		{"wrapped status", fmt.Errorf("call: %w", status.Error(codes.DeadlineExceeded, "late")), BrokerUnreachable, "tool: call: rpc error: code = DeadlineExceeded desc = late\n"},
		{"code without message", &Error{Code: Failed}, Failed, ""},
		{"quiet keeps the cause", &Error{Code: Failed, Err: rejected, Quiet: true}, Failed, ""},
		{"no client", &Error{Code: NoClient, Err: errors.New("mysql: not found")}, NoClient, "tool: mysql: not found\n"},
		{"child exit code", &Error{Code: 42}, 42, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			if got := Exit("tool", tc.err, &stderr); got != tc.code {
				t.Errorf("Exit(%v) = %d, want %d", tc.err, got, tc.code)
			}
			if diff := cmp.Diff(tc.printed, stderr.String()); diff != "" {
				t.Errorf("printed (-want +got):\n%s", diff)
			}
		})
	}
	if err := (&Error{Code: Failed, Err: rejected, Quiet: true}); !errors.Is(err, rejected) {
		t.Error("a quiet error lost its cause")
	}
}

func TestExecute(t *testing.T) {
	boom := errors.New("boom")
	newRoot := func() *cobra.Command {
		root := &cobra.Command{Use: "tool", Args: cobra.NoArgs, RunE: func(*cobra.Command, []string) error { return boom }}
		root.Flags().String("dir", "", "a directory")
		sub := &cobra.Command{Use: "sub", Args: cobra.ExactArgs(1), RunE: func(*cobra.Command, []string) error { return nil }}
		sub.Flags().Bool("all", false, "")
		sub.MarkFlagRequired("all")
		root.AddCommand(sub)
		return root
	}
	for _, tc := range []struct {
		name string
		args []string
		code int
	}{
		{"run error is kept", []string{"--dir", "x"}, Failed},
		{"unknown flag", []string{"--bogus"}, Usage},
		{"extra argument", []string{"x"}, Usage},
		{"bad argument count", []string{"sub", "--all"}, Usage},
		{"missing required flag", []string{"sub", "a"}, Usage},
		{"ok", []string{"sub", "a", "--all"}, OK},
		{"help", []string{"--help"}, OK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			err := Execute(newRoot(), tc.args, &out, &errb)
			if got := Exit("tool", err, &errb); got != tc.code {
				t.Errorf("args %q: exit %d (%v), want %d", tc.args, got, err, tc.code)
			}
			if tc.code == Failed && !errors.Is(err, boom) {
				t.Errorf("run error not returned as is: %v", err)
			}
		})
	}
}

func TestGoFlags(t *testing.T) {
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	fs.String("dir", "", "")
	fs.Bool("no-broker", false, "")
	fs.StringP("output", "o", "", "")
	got := GoFlags(fs, []string{"-dir", "d", "-no-broker=true", "--dir=e", "-o", "json", "-bogus", "-help", "pos", "--", "-dir"})
	want := []string{"--dir", "d", "--no-broker=true", "--dir=e", "-o", "json", "-bogus", "--help", "pos", "--", "-dir"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("GoFlags (-want +got):\n%s", diff)
	}
}

func TestRunMain(t *testing.T) {
	for _, tc := range []struct {
		name    string
		err     error
		code    int
		printed string
	}{
		{"ok", nil, OK, ""},
		{"usage", Usagef("no endpoint"), Usage, "tool: no endpoint\n"},
		{"failed", errors.New("boom"), Failed, "tool: boom\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			ran := false
			code := runMain("tool", func(ctx context.Context) error {
				ran = true
				if ctx.Err() != nil {
					t.Errorf("context cancelled before run: %v", ctx.Err())
				}
				return tc.err
			}, &stderr)
			if !ran || code != tc.code || stderr.String() != tc.printed {
				t.Errorf("runMain: ran %v, code %d, printed %q; want code %d, printed %q", ran, code, stderr.String(), tc.code, tc.printed)
			}
		})
	}
}
