// Package cli is what every connbroker binary shares on the command line:
// the exit codes, the one mapping from an error to an exit code ([Exit]),
// and running a cobra command with those conventions ([Execute]).
//
// Exit codes:
//
//	0   OK: success, or --help
//	1   Failed: the command ran and the answer is no (a validation failed,
//	    a token was rejected, the daemon or the stack stopped on an error)
//	2   Usage: bad flags or arguments, an invalid configuration, an
//	    unknown endpoint
//	3   BrokerUnreachable: the broker could not be reached, did not
//	    answer in time, or refused the request
//	127 NoClient: connbroker connect/exec found no client program to run
//
// connbroker connect and exec also exit with the code of the program they
// ran.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"google.golang.org/grpc/status"
)

// The exit codes shared by every binary.
const (
	// OK is success.
	OK = 0
	// Failed means the command ran and failed.
	Failed = 1
	// Usage means bad flags, arguments or configuration.
	Usage = 2
	// BrokerUnreachable means the broker could not be reached or refused.
	BrokerUnreachable = 3
	// NotKnown means the answer cannot be trusted as an all-clear: preflight
	// saw no applications on the endpoint, or its inventory is incomplete.
	NotKnown = 4
	// NoClient means no client program was found (as a shell's 127).
	NoClient = 127
)

// ExitCoder is an error that chooses its exit code. Binaries give their
// own typed errors an ExitCode method instead of mapping them in main.
type ExitCoder interface {
	error
	ExitCode() int
}

// Error is an error with an exit code. Exit prints its message unless Err
// is nil or Quiet is set.
type Error struct {
	// Code is the exit code.
	Code int
	// Err is the cause; nil prints nothing.
	Err error
	// Quiet keeps Err for errors.Is/As but prints nothing.
	Quiet bool
}

func (e *Error) Error() string {
	if e.Err == nil {
		return ""
	}
	return e.Err.Error()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// ExitCode returns e.Code.
func (e *Error) ExitCode() int { return e.Code }

// Usagef returns a usage error (exit code 2) with a formatted message.
func Usagef(format string, a ...any) error {
	return &Error{Code: Usage, Err: fmt.Errorf(format, a...)}
}

// UsageError marks err as a usage error (exit code 2); nil stays nil.
func UsageError(err error) error {
	if err == nil {
		return nil
	}
	return &Error{Code: Usage, Err: err}
}

// Exit maps err to the exit code, in one place for every binary, and
// prints err to stderr as "name: message" when there is something to say:
//
//   - nil, or a help request (flag.ErrHelp, pflag.ErrHelp): OK;
//   - an ExitCoder (Error and each binary's typed errors): its code;
//   - a gRPC status error: BrokerUnreachable;
//   - anything else: Failed.
func Exit(name string, err error, stderr io.Writer) int {
	if err == nil || errors.Is(err, flag.ErrHelp) || errors.Is(err, pflag.ErrHelp) {
		return OK
	}
	code := Failed
	var ec ExitCoder
	var quiet *Error
	switch {
	case errors.As(err, &ec):
		code = ec.ExitCode()
	case isStatus(err):
		code = BrokerUnreachable
	}
	if msg := err.Error(); msg != "" && !(errors.As(err, &quiet) && quiet.Quiet) {
		fmt.Fprintln(stderr, name+":", msg)
	}
	return code
}

// Main is the whole main function of a binary: it runs run with a context
// cancelled by SIGINT or SIGTERM and exits the process with the code Exit
// maps run's error to, printing it as "name: message". It does not return.
func Main(name string, run func(ctx context.Context) error) {
	os.Exit(runMain(name, run, os.Stderr))
}

// runMain is Main without the exit, for tests.
func runMain(name string, run func(ctx context.Context) error, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return Exit(name, run(ctx), stderr)
}

func isStatus(err error) bool {
	_, ok := status.FromError(err)
	return ok
}

// ranError marks an error returned by a command's own RunE.
type ranError struct{ err error }

func (e *ranError) Error() string { return e.err.Error() }
func (e *ranError) Unwrap() error { return e.err }

// Execute runs root with args, its output on stdout and stderr, errors
// and usage not printed by cobra (Exit prints the error). An error cobra
// itself returns before running a command (an unknown command or flag, a
// bad argument count, a missing required flag) is a usage error; errors
// from the commands' RunE are returned as they are.
func Execute(root *cobra.Command, args []string, stdout, stderr io.Writer) error {
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SilenceUsage, root.SilenceErrors = true, true
	if root.FlagErrorFunc() == nil {
		root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return UsageError(err) })
	}
	markRuns(root)
	err := root.Execute()
	var ran *ranError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ran):
		return ran.err
	}
	var ec ExitCoder
	if errors.As(err, &ec) { // a flag or argument error already typed
		return err
	}
	return UsageError(err)
}

// markRuns wraps the RunE of c and its subcommands so Execute can tell
// their errors from cobra's.
func markRuns(c *cobra.Command) {
	if run := c.RunE; run != nil {
		c.RunE = func(cmd *cobra.Command, args []string) error {
			if err := run(cmd, args); err != nil {
				if _, ok := err.(*ranError); ok {
					return err
				}
				return &ranError{err}
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		markRuns(sub)
	}
}

// GoFlags rewrites Go-flag-style single-dash long flags in args ("-dir",
// "-listen=x") to the double-dash form pflag parses ("--dir"), for the
// long flags defined in fs (and -help), up to a "--". It keeps command
// lines written for the stdlib flag package working.
func GoFlags(fs *pflag.FlagSet, args []string) []string {
	out := make([]string, 0, len(args))
	for i, a := range args {
		if a == "--" {
			return append(out, args[i:]...)
		}
		if len(a) > 2 && a[0] == '-' && a[1] != '-' {
			name, _, _ := strings.Cut(a[1:], "=")
			if name == "help" || (len(name) > 1 && fs.Lookup(name) != nil) {
				a = "-" + a
			}
		}
		out = append(out, a)
	}
	return out
}
