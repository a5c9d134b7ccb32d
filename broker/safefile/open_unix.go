//go:build unix

package safefile

import "syscall"

// openFlags keep an open from blocking on a FIFO and from making a
// terminal the controlling one.
const openFlags = syscall.O_NONBLOCK | syscall.O_NOCTTY
