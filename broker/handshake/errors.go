package handshake

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"

	"github.com/go-sql-driver/mysql"
)

// Sentinel errors. Match them with errors.Is.
var (
	// ErrMalformedPacket: a packet could not be parsed. Every *ParseError
	// matches it. Not worth retrying: the peer is broken or not MySQL.
	ErrMalformedPacket = errors.New("malformed packet")
	// ErrNotMySQL: the peer's bytes cannot be the MySQL protocol (an HTTP
	// or TLS server, say). Not worth retrying: fix the address or port.
	ErrNotMySQL = errors.New("peer does not speak the MySQL protocol")
	// ErrUnexpectedPacket: a well-formed packet arrived where the protocol
	// does not allow it. Not worth retrying.
	ErrUnexpectedPacket = errors.New("unexpected packet")
	// ErrOutOfSequence: a packet carried the wrong sequence id. Not worth
	// retrying.
	ErrOutOfSequence = errors.New("packet out of sequence")
)

// ParseError reports a packet that could not be parsed. It matches
// ErrMalformedPacket. Callers should not retry.
type ParseError struct {
	// Packet names the packet, e.g. "greeting".
	Packet string
	// Offset is the byte offset in the payload where parsing failed.
	Offset int
	// Reason says what was wrong.
	Reason string
}

// Error implements error.
func (e *ParseError) Error() string {
	return fmt.Sprintf("parse %s at byte %d: %s", e.Packet, e.Offset, e.Reason)
}

// Unwrap returns ErrMalformedPacket.
func (e *ParseError) Unwrap() error { return ErrMalformedPacket }

// FramingError reports a packet header or body that could not be read: the
// peer closed (Err is io.EOF or io.ErrUnexpectedEOF; retrying may help if the
// server was restarting) or sent something that is not MySQL (Err is
// ErrNotMySQL; do not retry).
type FramingError struct {
	// Reason says what happened, in plain words.
	Reason string
	// Head holds the first header bytes received, for diagnosis.
	Head []byte
	// Err is the cause.
	Err error
}

// Error implements error.
func (e *FramingError) Error() string {
	if len(e.Head) > 0 {
		return fmt.Sprintf("read packet: %s (header % x)", e.Reason, e.Head)
	}
	return "read packet: " + e.Reason
}

// Unwrap returns the cause.
func (e *FramingError) Unwrap() error { return e.Err }

// Stage names a part of the connection phase; each has its own deadline.
type Stage string

// Stages of a probe, in order.
const (
	StageDial     Stage = "dial"
	StageGreeting Stage = "greeting"
	StageTLS      Stage = "tls"
	StageAuth     Stage = "auth"
)

// StageError wraps any failure of a probe with the stage it happened in.
// Timeouts (Timeout() true) and closed connections are worth retrying with
// backoff; protocol errors (ErrNotMySQL, ErrMalformedPacket,
// ErrUnexpectedPacket) and TLS verification failures are not.
type StageError struct {
	// Stage is where the probe was.
	Stage Stage
	// Err is the cause.
	Err error
}

// Error implements error.
func (e *StageError) Error() string { return string(e.Stage) + ": " + e.Err.Error() }

// Unwrap returns the cause.
func (e *StageError) Unwrap() error { return e.Err }

// Timeout reports whether the stage ran out of time (its own deadline or the
// context's); false when the context was cancelled.
func (e *StageError) Timeout() bool {
	if errors.Is(e.Err, context.Canceled) {
		return false
	}
	return errors.Is(e.Err, os.ErrDeadlineExceeded) || errors.Is(e.Err, context.DeadlineExceeded)
}

// ServerError is an ERR packet from the server: the server refused. Whether
// to retry depends on Code: 1045 (access denied) is final for this secret
// (a password source may be re-read once: rotation race); 1040 (too many
// connections) and 1129 (host blocked) are worth retrying later.
type ServerError struct {
	// Code is the MySQL error number, e.g. 1045.
	Code uint16
	// SQLState is the five-character SQLSTATE, e.g. "28000"; empty when the
	// server did not send the '#' marker.
	SQLState string
	// Message is the server's human-readable message.
	Message string
}

// DriverServerError returns the ERR packet go-sql-driver received, found
// inside err (a *mysql.MySQLError), as this package's one type for it; nil
// when err holds none. An SQLSTATE of zero bytes (no '#' marker) is "".
func DriverServerError(err error) *ServerError {
	var me *mysql.MySQLError
	if !errors.As(err, &me) {
		return nil
	}
	e := &ServerError{Code: me.Number, SQLState: string(me.SQLState[:]), Message: me.Message}
	if me.SQLState == [5]byte{} {
		e.SQLState = ""
	}
	return e
}

// Error implements error.
func (e *ServerError) Error() string {
	if e.SQLState == "" {
		return "server error " + strconv.Itoa(int(e.Code)) + ": " + e.Message
	}
	return fmt.Sprintf("server error %d (%s): %s", e.Code, e.SQLState, e.Message)
}

// StopError reports that the driver the probe emulates could not go on (the
// server asked for something the Profile cannot or will not do). It is a
// prediction about the driver, not a network failure: do not retry; fix the
// configuration named by Reason.
type StopError struct {
	// Reason says why, with a stable code.
	Reason StopReason
}

// Error implements error.
func (e *StopError) Error() string {
	return "driver would stop: " + e.Reason.Code + ": " + e.Reason.Detail
}

// TLSError reports a failed TLS upgrade. Verification failures (Verify
// non-nil) are not worth retrying: fix the CA or the server name.
type TLSError struct {
	// Verify is the certificate verification error, if that was the cause.
	Verify error
	// Err is the handshake error.
	Err error
}

// Error implements error.
func (e *TLSError) Error() string { return "tls handshake: " + e.Err.Error() }

// Unwrap returns the handshake error.
func (e *TLSError) Unwrap() error { return e.Err }
