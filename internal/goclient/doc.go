// Package goclient holds the tests of the Go client (clients/go, a module
// of its own) that need the broker's module: a real broker in process or as
// a binary, MariaDB, moto, the hints renderer. They import the client
// through the root go.mod's replace, as an application would import it.
package goclient
